from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import login, logout
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import CsrfSessionAuthentication, csrf_check_passes
from apps.accounts.services import (
    token_revoke,
    user_authenticate,
    user_signup,
    user_token_obtain,
)
from apps.accounts.throttling import (
    LoginThrottle,
    SignupThrottle,
    login_failure_record,
    login_success_record,
)
from apps.core.exceptions import ApplicationError


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class SignupSerializer(CredentialsSerializer):
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()


class SignupOutputSerializer(UserSerializer):
    # The token scripts send as `Token <token>`.
    token = serializers.CharField()


class MeSerializer(UserSerializer):
    signup_enabled = serializers.BooleanField()
    is_staff = serializers.BooleanField()  # sees the System page (GET /api/v1/system/)


def _user_payload(user) -> dict:
    return {"id": user.id, "username": user.username, "email": user.email}


def _credentials_check(request: Request, check: Callable[..., Any], **credentials: Any) -> Any:
    """Run ``check`` (a log-in service), counting a wrong password against the user name
    and the address (apps.accounts.throttling)."""
    try:
        result = check(**credentials)
    except ApplicationError as exc:
        if exc.code == "authentication_failed":
            login_failure_record(request)
        raise
    login_success_record(request)
    return result


class SignupApi(APIView):
    """Create an account. Answers the user and an API token; a browser (a request with a
    valid CSRF token) is logged in too."""

    permission_classes = [AllowAny]
    throttle_classes = [SignupThrottle]

    @extend_schema(request=SignupSerializer, responses={201: SignupOutputSerializer})
    def post(self, request: Request) -> Response:
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_signup(**data.validated_data)
        if csrf_check_passes(request):
            # Only a same-site request gets a session: a cross-site form must not sign the
            # visitor in to an account the attacker chose (login CSRF). Scripts use the token.
            login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        token = Token.objects.get(user=user)
        return Response({**_user_payload(user), "token": token.key}, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    """Exchange a user name and password for the token scripts send as `Token <token>`."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = _credentials_check(request, user_token_obtain, **data.validated_data)
        return Response({"token": token.key})


class LoginApi(APIView):
    """Browser log-in (session cookie). Needs the CSRF token (cookie + X-CSRFToken header)."""

    permission_classes = [AllowAny]
    authentication_classes = [CsrfSessionAuthentication]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=CredentialsSerializer, responses={200: UserSerializer})
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _credentials_check(request, user_authenticate, **data.validated_data)
        login(request._request, user)
        return Response(_user_payload(user))


class LogoutApi(APIView):
    """End the browser session; with `Token <key>`, revoke that token too."""

    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, Token):
            token_revoke(token=request.auth)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="get")
class MeApi(APIView):
    """Who is logged in (401 if nobody). Also sets the CSRF cookie for the browser app."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {
                **_user_payload(request.user),
                "signup_enabled": settings.SIGNUP_ENABLED,
                "is_staff": request.user.is_staff,
            }
        )


class SessionSerializer(serializers.Serializer):
    authenticated = serializers.BooleanField()
    user = MeSerializer(allow_null=True)


@method_decorator(ensure_csrf_cookie, name="get")
class SessionApi(APIView):
    """Who is logged in, as a normal answer either way: 200 ``{"authenticated": false,
    "user": null}`` when nobody is (the browser app asks on every page, and a logged-out
    visitor is not an error). Also sets the CSRF cookie."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: SessionSerializer})
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            return Response({"authenticated": False, "user": None})
        user = {
            **_user_payload(request.user),
            "signup_enabled": settings.SIGNUP_ENABLED,
            "is_staff": request.user.is_staff,
        }
        return Response({"authenticated": True, "user": user})


class AuthConfigApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer("AuthConfig", {"signup_enabled": serializers.BooleanField()})
        }
    )
    def get(self, request: Request) -> Response:
        return Response({"signup_enabled": settings.SIGNUP_ENABLED})


class CsrfSessionScheme(SessionScheme):
    """The log-in's session authentication is the session cookie, like everywhere else."""

    target_class = "apps.accounts.authentication.CsrfSessionAuthentication"
    name = "csrfCookieAuth"
