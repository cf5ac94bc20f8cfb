from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework import status
from rest_framework.authtoken.models import Token

from apps.accounts.selectors import token_is_expired
from apps.core.exceptions import ApplicationError


def user_signup(*, username: str, password: str, email: str = "") -> User:
    if not settings.SIGNUP_ENABLED:
        raise ApplicationError(
            "Sign-up is turned off on this server. Ask an administrator for an account.",
            code="signup_disabled",
            status_code=status.HTTP_403_FORBIDDEN,
        )
    username = username.strip()
    if not username:
        raise ApplicationError("Choose a user name.", code="invalid")
    if User.objects.filter(username__iexact=username).exists():
        raise ApplicationError("That user name is taken.", code="username_taken")
    user = User(username=username, email=email)
    try:
        password_validation.validate_password(password, user)
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), code="invalid") from exc
    with transaction.atomic():
        user.set_password(password)
        user.save()
        Token.objects.create(user=user)
    return user


def user_token_obtain(*, username: str, password: str) -> Token:
    user = authenticate(username=username, password=password)
    if user is None:
        raise ApplicationError(
            "Wrong user name or password.",
            code="authentication_failed",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    with transaction.atomic():
        token, _ = Token.objects.select_for_update().get_or_create(user=user)
        if token_is_expired(token=token):
            # A new key, not a new date on the old one: an expired key never works again.
            token.delete()
            token = Token.objects.create(user=user)
    return token


def token_revoke(*, token: Token) -> None:
    """Log-out: the token stops working at once (the next /auth/token/ issues a new one)."""
    Token.objects.filter(pk=token.pk).delete()


def user_authenticate(*, username: str, password: str) -> User:
    user = authenticate(username=username, password=password)
    if user is None:
        raise ApplicationError(
            "Wrong user name or password.",
            code="authentication_failed",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    return user
