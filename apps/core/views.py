import posixpath

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.selectors import platform_health, stored_file_visible_to

HEALTH_SCHEMA = inline_serializer(
    "Health",
    {
        "status": serializers.CharField(),
        "database": serializers.CharField(),
        "broker": serializers.CharField(),
        "workers": serializers.IntegerField(),
        # 503 only: which part is down.
        "message": serializers.CharField(required=False),
    },
)


class HealthLiveApi(APIView):
    """Liveness: this web process answers. Touches nothing else (no database, no broker)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=inline_serializer("Liveness", {"status": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"}, headers={"Cache-Control": "no-store"})


class HealthApi(APIView):
    """Readiness: are the database and the broker reachable, and how many workers answer?

    No authentication; 503 names the part that is down. The checks run in the background
    and are cached for a few seconds (apps.core.selectors.HealthMonitor), so polling this
    costs next to nothing and answers within about 100 ms even when the broker hangs.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: HEALTH_SCHEMA, 503: HEALTH_SCHEMA})
    def get(self, request: Request) -> Response:
        health = platform_health()
        code = 200 if health["status"] == "ok" else 503
        if health["status"] == "starting":
            health["message"] = "The health checks are still running; ask again in a moment."
        elif code == 503:
            down = [k for k in ("database", "broker") if health[k] != "ok"]
            health["message"] = f"{' and '.join(down)} unavailable"
        return Response(health, status=code, headers={"Cache-Control": "no-store"})


class MediaFileApi(APIView):
    """A stored file (image, thumbnail, model file) for its owner: signed in (session or
    token) and owning the project or deployment the file belongs to; 404 for anybody else.

    Only on the embedded stack, where Django serves the media folder itself; on S3 the
    storage hands out short-lived signed URLs instead.
    """

    @extend_schema(exclude=True)
    def get(self, request: Request, path: str) -> HttpResponse:
        from django.views.static import serve

        name = posixpath.normpath(path)
        if name.startswith(("/", "..")) or not stored_file_visible_to(user=request.user, name=name):
            raise NotFound("File not found.")
        return serve(request._request, name, document_root=settings.MEDIA_ROOT)


def api_not_found(request: HttpRequest) -> JsonResponse:
    """Unknown API paths answer in the API's error shape, not with an HTML page."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": f"There is no API endpoint at {request.path}."}},
        status=404,
    )


@ensure_csrf_cookie
def spa_index(request: HttpRequest) -> HttpResponse:
    """The browser app. Built by `make up` (npm run build) into frontend/dist."""
    index = settings.FRONTEND_DIST / "index.html"
    if index.exists():
        html = index.read_bytes()
        placeholder = settings.SPA_CSP_NONCE_PLACEHOLDER.encode()
        if placeholder in html and hasattr(request, "csp_nonce"):
            # Built with vite's `html.cspNonce`: this response's nonce on the app's tags
            # (and in <meta property="csp-nonce"> for Mantine's getStyleNonce); using it puts
            # it in the Content-Security-Policy header.
            html = html.replace(placeholder, str(request.csp_nonce).encode())
        return HttpResponse(html, content_type="text/html")
    return HttpResponse(
        '<!doctype html><html lang="en"><title>Bakehouse</title><h1>Bakehouse</h1>'
        "<p>The browser app is not built yet: run <code>make frontend</code>. "
        'The API is at <a href="/api/docs/">/api/docs/</a>.</p></html>',
        content_type="text/html",
    )
