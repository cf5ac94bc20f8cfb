"""Reads about accounts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token


def token_expires_at(*, token: Token) -> datetime | None:
    """When ``token`` stops working (None: tokens never expire on this server)."""
    days = float(settings.TOKEN_TTL_DAYS)
    if days <= 0:
        return None
    return token.created + timedelta(days=days)


def token_is_expired(*, token: Token, now: datetime | None = None) -> bool:
    expires = token_expires_at(token=token)
    return expires is not None and (now or timezone.now()) >= expires
