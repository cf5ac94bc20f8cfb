import posixpath

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.selectors import platform_health, stored_file_visible_to


class HealthApi(APIView):
    """Is the platform up? No authentication; 503 names the part that is down."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "database": serializers.CharField(),
                "broker": serializers.CharField(),
                "workers": serializers.IntegerField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        health = platform_health()
        code = 200 if health["status"] == "ok" else 503
        if code == 503:
            down = [k for k in ("database", "broker") if health[k] != "ok"]
            health["message"] = f"{' and '.join(down)} unavailable"
        return Response(health, status=code)


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
        return FileResponse(index.open("rb"), content_type="text/html")
    return HttpResponse(
        '<!doctype html><html lang="en"><title>Bakehouse</title><h1>Bakehouse</h1>'
        "<p>The browser app is not built yet: run <code>make frontend</code>. "
        'The API is at <a href="/api/docs/">/api/docs/</a>.</p></html>',
        content_type="text/html",
    )
