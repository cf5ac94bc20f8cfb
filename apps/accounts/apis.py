from django.conf import settings
from django.contrib.auth import login, logout
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.services import user_authenticate, user_signup, user_token_obtain


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class SignupSerializer(CredentialsSerializer):
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()


def _user_payload(user) -> dict:
    return {"id": user.id, "username": user.username, "email": user.email}


class SignupApi(APIView):
    """Create an account. Answers the user and an API token; the browser is logged in too."""

    permission_classes = [AllowAny]

    @extend_schema(request=SignupSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_signup(**data.validated_data)
        login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        token = Token.objects.get(user=user)
        return Response({**_user_payload(user), "token": token.key}, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    """Exchange a user name and password for the token scripts send as `Token <token>`."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = user_token_obtain(**data.validated_data)
        return Response({"token": token.key})


class LoginApi(APIView):
    """Browser log-in (session cookie)."""

    permission_classes = [AllowAny]

    @extend_schema(request=CredentialsSerializer, responses={200: UserSerializer})
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_authenticate(**data.validated_data)
        login(request._request, user)
        return Response(_user_payload(user))


class LogoutApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="get")
class MeApi(APIView):
    """Who is logged in (401 if nobody). Also sets the CSRF cookie for the browser app."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response({**_user_payload(request.user), "signup_enabled": settings.SIGNUP_ENABLED})


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
