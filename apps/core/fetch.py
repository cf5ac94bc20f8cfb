"""The one way the server fetches a URL a user gave it (URL and CSV imports, the prediction
API's ``{"url"}`` input, and later webhooks).

The server fetching a URL on a user's behalf must not become a way into its own network
(cloud metadata at 169.254.169.254, admin pages on localhost, the database host, ...):

- http and https only; the host is resolved ONCE, every address it resolves to is checked,
  and the connection goes to that checked address (the Host header and TLS SNI/certificate
  check still use the name), so a second DNS answer cannot point it elsewhere (rebinding);
- refused: loopback, private, link-local, shared (100.64/10), multicast, reserved and
  unspecified addresses, IPv4-mapped / -compatible / NAT64 / 6to4 IPv6 forms of any of
  them, and numeric host spellings other than a plain dotted quad (``2130706433``,
  ``0x7f000001``, ``0177.0.0.1``, ``127.1``), unless the host name or the address is in
  ``settings.URL_ALLOWLIST`` (host names and CIDR networks; empty by default);
- redirects are followed by hand (at most ``MAX_REDIRECTS``), each hop checked the same way;
- one wall-clock deadline covers resolving, connecting, the TLS handshake, the headers and
  the body: every read waits at most for the time left, so a server that drips a byte
  every few seconds is cut off on time; the body is read in small pieces and stops one
  piece past ``max_bytes``.

Every failure is one ``FetchError`` (code ``fetch_failed``, 400; a too large answer is
``FetchTooLarge``, code ``too_large``, 413). An address that is wrong in itself (not a web
address, another scheme, a user name in it, too long) says so: that tells the caller nothing
it did not send. Whatever depends on the network (a private address, a name that does not
resolve, a refused connection, a status, a time-out) gets one message that lists what it may
be, and the exact reason goes to the server log only: telling the caller would let it map
the network.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import logging
import re
import selectors
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from rest_framework import status

from apps.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

FETCH_FAILED_MESSAGE = (
    "Could not fetch this address: it may not exist, not answer, answer with an error, or be "
    "on a private network (the server fetches those only where its administrator allows them)."
)
NOT_A_WEB_ADDRESS = (
    "This is not a whole web address: it must start with http:// or https://, like "
    "https://example.com/photo.jpg."
)
MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2000
READ_SIZE = 16 * 1024
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "Bakehouse"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class FetchError(ApplicationError):
    """The URL could not be fetched. ``reason`` is for the log, never for the caller."""

    def __init__(
        self,
        reason: str,
        *,
        message: str = FETCH_FAILED_MESSAGE,
        code: str = "fetch_failed",
        status_code: int = status.HTTP_400_BAD_REQUEST,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code)
        self.reason = reason


class FetchTooLarge(FetchError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"more than {max_bytes} bytes",
            message=(
                "The file at this address is larger than the "
                f"{max_bytes / (1024 * 1024):.1f} MB limit."
            ),
            code="too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str  # the address that answered (after redirects)
    content_type: str


# --- Which addresses may be fetched --------------------------------------------------------


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = str(raw).strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_settings(cls) -> Allowlist:
        value = settings.URL_ALLOWLIST or []
        if isinstance(value, str):
            value = value.split(",")
        return cls.parse(value)

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


def _forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched from, or None if it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "IPv4-mapped IPv6 address"
        if int(address) >> 32 == 0 and int(address) > 1:
            return "IPv4-compatible IPv6 address"
        if address in _NAT64:
            return "NAT64 address"
        if address.sixtofour is not None and _forbidden_reason(address.sixtofour):
            return "6to4 address of a non-public IPv4 address"
        if address.teredo is not None:
            return "Teredo address"
    for flag in (
        "is_loopback",
        "is_link_local",
        "is_private",
        "is_multicast",
        "is_reserved",
        "is_unspecified",
    ):
        if getattr(address, flag):
            return flag.removeprefix("is_").replace("_", "-") + " address"
    if not address.is_global:
        return "non-global address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` is written as one (dotted quad or IPv6), else None."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _numeric_trick(host: str) -> bool:
    """A host that a resolver reads as a number but that is not a plain dotted quad:
    2130706433, 0x7f000001, 0177.0.0.1, 127.1, ... (no real host name ends in a number)."""
    labels = host.rstrip(".").split(".")
    return bool(labels) and _NUMERIC_LABEL.match(labels[-1]) is not None


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str  # as in the URL (for Host and SNI)
    port: int
    path: str  # path and query
    addresses: tuple[IPAddress, ...]


def _target(url: str, allow: Allowlist, deadline: float) -> _Target:
    """Parse ``url``, resolve its host once and check every address."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError("no address", message=NOT_A_WEB_ADDRESS)
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(
            "address too long",
            message=f"This address is too long: at most {MAX_URL_LENGTH} characters.",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"invalid address ({exc})", message=NOT_A_WEB_ADDRESS) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            f"scheme {scheme!r} refused",
            message=NOT_A_WEB_ADDRESS
            if not scheme
            else "Only http:// and https:// addresses can be fetched.",
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchError("no host", message=NOT_A_WEB_ADDRESS)
    if parts.username is not None or parts.password is not None:
        raise FetchError(
            "credentials in the address",
            message="Addresses with a user name or password in them are not fetched.",
        )
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    host_allowed = allow.allows_host(host)

    literal = _literal_address(host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        if _numeric_trick(host) and not host_allowed:
            raise FetchError(f"numeric host spelling {host!r} refused")
        addresses = _resolve(host, port, deadline)
    if not host_allowed:
        for address in addresses:
            reason = _forbidden_reason(address)
            if reason and not allow.allows_address(address):
                raise FetchError(f"{host} resolves to {address}: {reason}")
    return _Target(url, scheme, host, port, path, addresses)


def _resolve(host: str, port: int, deadline: float) -> tuple[IPAddress, ...]:
    if time.monotonic() >= deadline:
        raise FetchError("deadline passed before resolving")
    try:
        host.encode("idna")
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"could not resolve {host!r}: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = _literal_address(str(info[4][0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"{host!r} resolves to no address")
    return tuple(addresses)


# --- One request with a deadline -----------------------------------------------------------


class _DeadlineSocket:
    """A socket whose every read and write waits at most until ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        size = min(nbytes or len(buffer), READ_SIZE)
        return self._sock.recv_into(buffer, size, flags)

    def sendall(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        # SocketIO is typed for socket.socket; this wrapper has what it calls (recv_into, and
        # _decref_socketios on close).
        return io.BufferedReader(socket.SocketIO(self, "rb"), READ_SIZE)  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:  # called by SocketIO.close()
        pass

    def close(self) -> None:
        # http.client "closes" the connection as soon as it has a response that will close
        # (HTTP/1.0, Connection: close) and reads the body afterwards; the real socket is
        # closed by _get when it is done.
        pass

    def really_close(self) -> None:
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _wait(sock: socket.socket, events: int, deadline: float) -> None:
    left = deadline - time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(sock, events)
        if left <= 0 or not selector.select(left):
            raise TimeoutError("deadline passed during the TLS handshake")


def _connect(target: _Target, deadline: float, context: ssl.SSLContext | None) -> socket.socket:
    last: Exception | None = None
    for address in target.addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            sock = socket.create_connection((str(address), target.port), timeout=left)
        except OSError as exc:
            last = exc
            continue
        if target.scheme != "https":
            return sock
        try:
            tls = (context or ssl.create_default_context()).wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            tls.setblocking(False)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    _wait(tls, selectors.EVENT_READ, deadline)
                except ssl.SSLWantWriteError:
                    _wait(tls, selectors.EVENT_WRITE, deadline)
            tls.setblocking(True)
            return tls
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            last = exc
    raise FetchError(f"could not connect to {target.host}:{target.port}: {last!r}")


class _Connection(http.client.HTTPConnection):
    """http.client on a socket that is already connected to the checked address."""

    def __init__(self, target: _Target, sock: _DeadlineSocket) -> None:
        super().__init__(target.host, target.port)
        self.sock = sock

    def connect(self) -> None:  # never reconnect elsewhere
        raise http.client.NotConnected("already connected")


def _request_start(connection: _Connection, method: str, target: _Target, user_agent: str) -> None:
    """The request line and the headers every outgoing request carries (the Host as the URL
    named it: the connection itself goes to the checked address)."""
    default_port = 443 if target.scheme == "https" else 80
    connection.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
    host = f"[{target.host}]" if ":" in target.host else target.host
    connection.putheader("Host", host if target.port == default_port else f"{host}:{target.port}")
    connection.putheader("User-Agent", user_agent)
    connection.putheader("Accept-Encoding", "identity")
    connection.putheader("Connection", "close")


def _get(
    target: _Target,
    *,
    deadline: float,
    max_bytes: int,
    user_agent: str,
    context: ssl.SSLContext | None,
) -> tuple[int, str, str, bytes]:
    """(status, Location, Content-Type, body) of one GET; the body only for a 200."""
    sock = _DeadlineSocket(_connect(target, deadline, context), deadline)
    connection = _Connection(target, sock)
    try:
        _request_start(connection, "GET", target, user_agent)
        connection.putheader("Accept", "image/*, */*;q=0.5")
        connection.endheaders()
        response = connection.getresponse()
        location = response.getheader("Location") or ""
        content_type = response.getheader("Content-Type") or ""
        if response.status != 200:
            return response.status, location, content_type, b""
        declared = (response.getheader("Content-Length") or "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchTooLarge(max_bytes)
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() >= deadline:
                raise TimeoutError("deadline passed while reading the body")
            chunk = response.read1(READ_SIZE)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchTooLarge(max_bytes)
            chunks.append(chunk)
        return response.status, location, content_type, b"".join(chunks)
    finally:
        connection.close()
        sock.really_close()


def _redirected_target(url: str, allow: Allowlist, deadline: float) -> _Target:
    """A redirect's target: what is wrong with it came from the server, not from the caller,
    so it gets the one plain message whatever it was."""
    try:
        return _target(url, allow, deadline)
    except FetchError as exc:
        raise FetchError(f"redirect to {url[:300]!r}: {exc.reason}") from None


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    user_agent: str = USER_AGENT,
    ssl_context: ssl.SSLContext | None = None,
) -> Fetched:
    """GET ``url`` within ``timeout`` seconds in all, at most ``max_bytes`` of body, only
    from allowed addresses (see the module docstring). Raises ``FetchError``."""
    deadline = time.monotonic() + float(timeout)
    allow = Allowlist.from_settings()
    current = url
    try:
        for hop in range(MAX_REDIRECTS + 1):
            if hop:
                target = _redirected_target(current, allow, deadline)
            else:
                target = _target(current, allow, deadline)
            code, location, content_type, body = _get(
                target,
                deadline=deadline,
                max_bytes=max_bytes,
                user_agent=user_agent,
                context=ssl_context,
            )
            if code in REDIRECT_STATUSES and location:
                current = urljoin(target.url, location.strip())
                continue
            if code != 200:
                raise FetchError(f"the server answered {code}")
            return Fetched(data=body, url=target.url, content_type=content_type)
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except FetchError as exc:
        logger.warning("could not fetch %.300s: %s", url, exc.reason)
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else repr(exc)
        logger.warning("could not fetch %.300s: %s", url, reason)
        raise FetchError(reason) from exc


# --- POST (webhook deliveries) -------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    status: int  # whatever the receiver answered; redirects are not followed
    body: bytes  # at most ``max_bytes`` of it (a receiver's answer is only logged)


def url_check(url: str, *, timeout: float) -> None:
    """Raise ``FetchError`` unless ``url`` would be allowed by ``fetch_url`` / ``post_url``
    right now (scheme, host, and every address it resolves to). For checking an address a
    user saves (a webhook's receiver) before anything is sent to it."""
    try:
        _target(url, Allowlist.from_settings(), time.monotonic() + float(timeout))
    except FetchError as exc:
        logger.warning("refused address %.300s: %s", url, exc.reason)
        raise


def _post(
    target: _Target,
    *,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    max_bytes: int,
    user_agent: str,
    context: ssl.SSLContext | None,
) -> tuple[int, bytes]:
    sock = _DeadlineSocket(_connect(target, deadline, context), deadline)
    connection = _Connection(target, sock)
    try:
        _request_start(connection, "POST", target, user_agent)
        connection.putheader("Content-Length", str(len(body)))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        chunks: list[bytes] = []
        size = 0
        # The answer is only kept for the log: read what fits, ignore the rest.
        while size < max_bytes and time.monotonic() < deadline:
            chunk = response.read1(READ_SIZE)
            if not chunk:
                break
            size += len(chunk)
            chunks.append(chunk)
        return response.status, b"".join(chunks)[:max_bytes]
    finally:
        connection.close()
        sock.really_close()


def post_url(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    max_bytes: int = 4096,
    user_agent: str = USER_AGENT,
    ssl_context: ssl.SSLContext | None = None,
) -> Posted:
    """POST ``body`` to ``url`` within ``timeout`` seconds in all, only to allowed addresses
    (the same checks as ``fetch_url``). Any status is returned (the caller decides what
    counts as delivered); a redirect is not followed, since re-sending a body elsewhere is
    the receiver's decision to make, not ours. Raises ``FetchError`` when nothing answered."""
    deadline = time.monotonic() + float(timeout)
    try:
        target = _target(url, Allowlist.from_settings(), deadline)
        code, answer = _post(
            target,
            body=body,
            headers=headers,
            deadline=deadline,
            max_bytes=max_bytes,
            user_agent=user_agent,
            context=ssl_context,
        )
        return Posted(status=code, body=answer)
    except FetchError as exc:
        logger.warning("could not post to %.300s: %s", url, exc.reason)
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else repr(exc)
        logger.warning("could not post to %.300s: %s", url, reason)
        raise FetchError(reason) from exc
