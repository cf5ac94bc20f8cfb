from django.urls import path

from apps.accounts import apis

urlpatterns = [
    path("auth/signup/", apis.SignupApi.as_view(), name="auth-signup"),
    path("auth/token/", apis.TokenApi.as_view(), name="auth-token"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me/", apis.MeApi.as_view(), name="auth-me"),
    path("auth/session/", apis.SessionApi.as_view(), name="auth-session"),
    path("auth/config/", apis.AuthConfigApi.as_view(), name="auth-config"),
]
