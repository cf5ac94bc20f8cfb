"""Who the client is, behind a reverse proxy.

A proxy in front of the web server says in ``X-Forwarded-For`` which address the request
came from and in ``X-Forwarded-Proto`` whether it came over HTTPS. Anybody can send those
headers, so they are believed only from the addresses in ``TRUSTED_PROXIES`` (none by
default): the client address (``REMOTE_ADDR``) becomes the nearest address in the chain that
is not itself a trusted proxy, and the scheme the one the proxy reports. From anybody else
the headers change nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(values: list[str]) -> list[Network]:
    """``TRUSTED_PROXIES`` (addresses or CIDR networks) parsed."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"BAKEHOUSE_TRUSTED_PROXIES: {value!r} is not an IP address or network."
            ) from exc
    return networks


def _address(value: str) -> Any:
    try:
        return ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None


class TrustedProxyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.networks = trusted_networks(list(settings.TRUSTED_PROXIES))

    def _trusted(self, value: str) -> bool:
        address = _address(value)
        return address is not None and any(address in network for network in self.networks)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.networks and self._trusted(request.META.get("REMOTE_ADDR", "")):
            self._believe_proxy(request.META)
        return self.get_response(request)

    def _believe_proxy(self, meta: dict[str, Any]) -> None:
        chain = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        # Each proxy appends the address it got the request from: read from the right, the
        # first address that is not one of our proxies is the client.
        for value in reversed(chain):
            if _address(value) is None:
                break  # garbage in the chain: nothing left of it can be believed
            meta["REMOTE_ADDR"] = value.strip()
            if not self._trusted(value):
                break
        proto = meta.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            meta["wsgi.url_scheme"] = proto
