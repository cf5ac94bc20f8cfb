"""X-Forwarded-For and X-Forwarded-Proto are believed from the trusted proxies only."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

from apps.core.middleware import TrustedProxyMiddleware


def _seen(rf, settings, trusted: list[str], **meta) -> tuple[str, str]:
    """(client address, scheme) as the views after the middleware see them."""
    settings.TRUSTED_PROXIES = trusted
    seen = {}

    def view(request):
        seen["address"] = request.META["REMOTE_ADDR"]
        seen["scheme"] = request.scheme
        return HttpResponse()

    TrustedProxyMiddleware(view)(rf.get("/", **meta))
    return seen["address"], seen["scheme"]


FORGED = {
    "REMOTE_ADDR": "203.0.113.9",
    "HTTP_X_FORWARDED_FOR": "10.0.0.1",
    "HTTP_X_FORWARDED_PROTO": "https",
}


def test_off_by_default_headers_change_nothing(rf, settings):
    assert settings.TRUSTED_PROXIES == []
    assert _seen(rf, settings, [], **FORGED) == ("203.0.113.9", "http")


def test_a_client_that_is_not_a_trusted_proxy_cannot_forge_them(rf, settings):
    assert _seen(rf, settings, ["127.0.0.1"], **FORGED) == ("203.0.113.9", "http")


def test_a_trusted_proxy_gives_the_client_and_the_scheme(rf, settings):
    meta = {
        "REMOTE_ADDR": "10.0.0.5",
        # A client-supplied (forged) entry first, then what our proxies appended.
        "HTTP_X_FORWARDED_FOR": "1.2.3.4, 198.51.100.7, 10.0.0.4",
        "HTTP_X_FORWARDED_PROTO": "https",
    }
    assert _seen(rf, settings, ["10.0.0.0/24"], **meta) == ("198.51.100.7", "https")


def test_https_redirect_is_not_fooled(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = []
    response = client.get("/api/v1/health/live/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301


def test_a_bad_setting_is_reported(settings):
    settings.TRUSTED_PROXIES = ["not-an-address"]
    with pytest.raises(ImproperlyConfigured, match="not-an-address"):
        TrustedProxyMiddleware(lambda request: HttpResponse())
