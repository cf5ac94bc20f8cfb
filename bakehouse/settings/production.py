"""Production: HTTPS only. `manage.py check --deploy` passes without warnings."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
# Behind a TLS-terminating proxy, list it in BAKEHOUSE_TRUSTED_PROXIES: only then does its
# X-Forwarded-Proto count (apps.core.middleware), never from anybody else.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
