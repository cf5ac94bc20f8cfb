"""The one URL fetcher (apps.core.fetch): which addresses it refuses, that it connects to
the address it checked, redirects, the whole-request deadline and the byte cap."""

from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from apps.core import fetch
from apps.core.fetch import (
    FETCH_FAILED_MESSAGE,
    NOT_A_WEB_ADDRESS,
    Allowlist,
    FetchError,
    FetchTooLarge,
    fetch_url,
)
from tests.local_http import allow_local, drip, local_server, redirect, send

IMAGE = b"\xff\xd8\xff" + b"x" * 500


def _fetch(url: str, **kwargs) -> fetch.Fetched:
    return fetch_url(
        url, max_bytes=kwargs.pop("max_bytes", 10_000), timeout=kwargs.pop("timeout", 3), **kwargs
    )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_forbidden(address):
    assert fetch._forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert fetch._forbidden_reason(ipaddress.ip_address(address)) is None


WRONG_SCHEME = "Only http:// and https:// addresses can be fetched."


@pytest.mark.parametrize(
    "url, message",
    [
        # The network's answer (a private address) is never told: one message for all.
        ("http://127.0.0.1/", FETCH_FAILED_MESSAGE),
        ("http://localhost/", FETCH_FAILED_MESSAGE),
        ("http://LOCALHOST./", FETCH_FAILED_MESSAGE),
        ("http://[::ffff:127.0.0.1]/", FETCH_FAILED_MESSAGE),
        ("http://[::1]/", FETCH_FAILED_MESSAGE),
        ("http://2130706433/", FETCH_FAILED_MESSAGE),
        ("http://0x7f000001/", FETCH_FAILED_MESSAGE),
        ("http://0X7F.0.0.1/", FETCH_FAILED_MESSAGE),
        ("http://0177.0.0.1/", FETCH_FAILED_MESSAGE),
        ("http://127.1/", FETCH_FAILED_MESSAGE),
        ("http://169.254.169.254/latest/meta-data/", FETCH_FAILED_MESSAGE),
        ("http://[fe80::1%25eth0]/", FETCH_FAILED_MESSAGE),
        # What is wrong with the address itself is said: the caller sent it.
        ("ftp://example.com/a.jpg", WRONG_SCHEME),
        ("file:///etc/passwd", WRONG_SCHEME),
        ("gopher://127.0.0.1/", WRONG_SCHEME),
        (
            "http://user:pass@example.com/",
            "Addresses with a user name or password in them are not fetched.",
        ),
        ("http:///a.jpg", NOT_A_WEB_ADDRESS),
        ("not a url", NOT_A_WEB_ADDRESS),
        ("", NOT_A_WEB_ADDRESS),
        ("http://" + "a" * 2100 + ".com/", "This address is too long: at most 2000 characters."),
    ],
)
def test_refused_before_any_connection(url, message, monkeypatch, settings):
    settings.URL_ALLOWLIST = []

    def no_connection(*args, **kwargs):
        raise AssertionError("must not connect")

    monkeypatch.setattr(fetch.socket, "create_connection", no_connection)
    with pytest.raises(FetchError) as caught:
        _fetch(url)
    assert (caught.value.code, caught.value.message) == ("fetch_failed", message)
    assert caught.value.status_code == 400


def test_the_host_is_resolved_once_and_the_checked_address_is_used(monkeypatch, settings):
    """DNS rebinding: the second answer (127.0.0.1) is never asked for nor used."""
    settings.URL_ALLOWLIST = []
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    lookups, connections = [], []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    def create_connection(address, timeout=None):
        connections.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(fetch.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(fetch.socket, "create_connection", create_connection)
    with pytest.raises(FetchError):
        _fetch("http://rebind.example/a.jpg")
    assert lookups == ["rebind.example"]
    assert connections == [("93.184.216.34", 80)]


def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch, settings):
    settings.URL_ALLOWLIST = []
    monkeypatch.setattr(
        fetch.socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ],
    )
    with pytest.raises(FetchError) as caught:
        _fetch("http://mixed.example/")
    assert "10.0.0.5" in caught.value.reason


def test_the_allowlist_takes_hosts_and_networks():
    allow = Allowlist.parse(["images.lan", " 10.0.0.0/8", "", "[::1]", "127.0.0.1"])
    assert allow.allows_host("IMAGES.lan.") and not allow.allows_host("other.lan")
    assert allow.allows_address(ipaddress.ip_address("10.200.0.1"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert allow.allows_address(ipaddress.ip_address("127.0.0.1"))
    assert not allow.allows_address(ipaddress.ip_address("127.0.0.2"))
    assert not allow.allows_address(ipaddress.ip_address("192.168.0.1"))


def test_fetch_from_an_allowed_server_with_redirects_and_the_original_host(settings):
    hosts = []

    def image(handler):
        hosts.append(handler.headers["Host"])
        send(200, IMAGE)(handler)

    routes = {"/a": redirect("/b", 301), "/b": redirect("/c.jpg", 307), "/c.jpg": image}
    with local_server(routes) as server:
        settings.URL_ALLOWLIST = ["127.0.0.0/8"]
        fetched = _fetch(server.url("/a"))
        settings.URL_ALLOWLIST = ["localhost"]
        by_name = _fetch(f"http://localhost:{server.port}/c.jpg")
    assert fetched.data == by_name.data == IMAGE
    assert fetched.url == server.url("/c.jpg") and fetched.content_type == "image/jpeg"
    assert hosts == [f"127.0.0.1:{server.port}", f"localhost:{server.port}"]


def test_at_most_five_redirects(settings):
    allow_local(settings)
    routes = {f"/{i}": redirect(f"/{i + 1}") for i in range(6)}
    routes["/6"] = send(200, IMAGE)
    with local_server(routes) as server:
        assert _fetch(server.url("/1")).data == IMAGE  # five redirects
        with pytest.raises(FetchError) as caught:
            _fetch(server.url("/0"))  # six
    assert "redirects" in caught.value.reason


def test_a_redirect_to_a_forbidden_address_is_refused(settings):
    allow_local(settings)
    routes = {
        "/metadata": redirect("http://169.254.169.254/latest/meta-data/iam/"),
        "/mapped": redirect("http://[::ffff:127.0.0.1]/"),
        "/scheme": redirect("file:///etc/passwd"),
    }
    with local_server(routes) as server:
        for path in routes:
            with pytest.raises(FetchError) as caught:
                _fetch(server.url(path))
            assert caught.value.message == FETCH_FAILED_MESSAGE
    assert server.seen == list(routes)


def test_failures_say_one_plain_sentence_and_log_the_reason(settings, caplog):
    allow_local(settings)
    with (
        local_server({}) as server,
        caplog.at_level(logging.WARNING, logger="apps.core.fetch"),
        pytest.raises(FetchError) as caught,
    ):
        _fetch(server.url("/missing.jpg"))
    assert str(caught.value) == FETCH_FAILED_MESSAGE and caught.value.extra == {}
    assert "404" in caught.value.reason and "404" in caplog.text


@pytest.mark.parametrize("length", [True, False])
def test_the_byte_cap_holds_with_and_without_a_declared_length(settings, length):
    allow_local(settings)
    with local_server({"/big.jpg": send(200, b"x" * 50_000, length=length)}) as server:
        with pytest.raises(FetchTooLarge) as caught:
            _fetch(server.url("/big.jpg"), max_bytes=10_000)
        assert _fetch(server.url("/big.jpg"), max_bytes=50_000).data == b"x" * 50_000
    assert caught.value.code == "too_large" and caught.value.status_code == 413
    assert "MB limit" in caught.value.message


@pytest.mark.parametrize("in_headers", [False, True])
def test_a_server_that_drips_is_cut_off_at_the_deadline(settings, in_headers):
    allow_local(settings)
    with local_server({"/drip": drip(every=0.1, total=6, in_headers=in_headers)}) as server:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            _fetch(server.url("/drip"), timeout=1.0, max_bytes=1_000_000)
        took = time.monotonic() - started
    assert 0.9 < took < 2.0, took
    assert caught.value.code == "fetch_failed"


def test_a_server_that_never_answers_is_cut_off_at_the_deadline(settings):
    allow_local(settings)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        started = time.monotonic()
        with pytest.raises(FetchError):
            _fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.5)
        assert time.monotonic() - started < 1.5
    finally:
        listener.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_checks_the_certificate_of_the_name_while_connecting_to_the_address(
    settings, tmp_path
):
    """TLS to the checked address with the URL's name as SNI and certificate name."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    names = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)
    client_context = ssl.create_default_context(cafile=str(cert))

    with local_server({"/a.jpg": send(200, IMAGE)}) as server:
        server.httpd.socket = server_context.wrap_socket(server.httpd.socket, server_side=True)
        settings.URL_ALLOWLIST = ["localhost", "127.0.0.1"]
        https = f"https://localhost:{server.port}/a.jpg"
        fetched = fetch_url(https, max_bytes=10_000, timeout=3, ssl_context=client_context)
        # The certificate is for "localhost", not for the address.
        with pytest.raises(FetchError) as caught:
            fetch_url(
                f"https://127.0.0.1:{server.port}/a.jpg",
                max_bytes=10_000,
                timeout=3,
                ssl_context=client_context,
            )
    assert fetched.data == IMAGE and names[0] == "localhost"
    assert "certificate" in caught.value.reason.lower() or "ssl" in caught.value.reason.lower()
