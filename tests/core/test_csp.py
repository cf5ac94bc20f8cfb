"""Content-Security-Policy (django-csp) on the app's page and on the API."""

import pytest
from django.conf import settings

from tests.conftest import S3_BUCKET

# On S3 the pictures are signed URLs on the bucket's origin, which img-src allows too.
MEDIA_ORIGINS = [settings.AWS_S3_ENDPOINT_URL.rstrip("/")] if S3_BUCKET else []

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def test_the_app_page_and_the_api_carry_the_policy(client, auth_client):
    for response in (
        client.get("/projects"),
        client.get("/api/v1/health/live/"),
        auth_client.get("/api/v1/projects/"),
        client.get("/api/v1/no-such-thing/"),
    ):
        policy = _directives(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["img-src"] == ["'self'", "data:", "blob:", *MEDIA_ORIGINS]
        assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
        # Only this origin (and the media bucket's): no other host anywhere in the policy.
        hosts = [s for sources in policy.values() for s in sources if "://" in s]
        assert all(host in MEDIA_ORIGINS for host in hosts)


def test_a_built_app_with_the_nonce_placeholder_gets_a_fresh_nonce(client, settings, tmp_path):
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><meta property="csp-nonce" nonce="__CSP_NONCE__">'
        '<script type="module" nonce="__CSP_NONCE__" src="/static/assets/app.js"></script>'
        "</head><body></body></html>"
    )
    settings.FRONTEND_DIST = tmp_path
    first, second = client.get("/projects"), client.get("/projects")
    html = first.content.decode()
    assert "__CSP_NONCE__" not in html
    nonce = html.split('nonce="', 1)[1].split('"', 1)[0]
    assert f"'nonce-{nonce}'" in _directives(first)["style-src"]
    assert nonce not in second.content.decode()


def test_report_only_mode(settings, client):
    policy = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = None
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = policy
    response = client.get("/projects")
    assert "Content-Security-Policy" not in response
    assert "frame-ancestors 'none'" in response["Content-Security-Policy-Report-Only"]
