"""`Authorization: Token <key>` with an expiry (settings.TOKEN_TTL_DAYS after issue)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request

from apps.accounts.selectors import token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused once older than the token lifetime.

    Kept rather than django-rest-knox: the token format (40 characters, one per user), the
    admin and every existing client stay as they are, and expiry plus revocation on log-out
    is all the hardening asked of it.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token=token):
            raise exceptions.AuthenticationFailed(
                "Your token has expired. Get a new one from /api/v1/auth/token/ "
                "with your user name and password.",
                code="token_expired",
            )
        return user, token


class CsrfSessionAuthentication(SessionAuthentication):
    """Session authentication that checks CSRF on every unsafe request, signed in or not.

    DRF checks CSRF only for requests a session already authenticates, so an anonymous
    log-in would be forgeable: a cross-site form could sign the visitor in as the attacker
    (login CSRF). The log-in endpoint uses this class; it accepts no token.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        self.enforce_csrf(request)
        return super().authenticate(request)


def csrf_check_passes(request: Request) -> bool:
    """Does ``request`` carry a valid CSRF token (the browser app always sends one)?"""
    try:
        CsrfSessionAuthentication().enforce_csrf(request)
    except exceptions.PermissionDenied:
        return False
    return True
