"""Every answer under /api/ is JSON in the one error shape, whatever produced it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_an_unknown_api_path_is_a_json_404_for_every_method(method):
    """A POST used to be refused by the CSRF check with Django's HTML 403 page."""
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/no-such-thing/", content_type="application/json")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_an_unknown_api_path_with_a_session_is_a_json_404(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v2/projects/", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_a_method_the_endpoint_does_not_have_is_a_json_405(auth_client):
    response = auth_client.put("/api/v1/health/", {}, format="json")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


def test_a_crash_under_the_api_is_a_json_500(monkeypatch):
    import apps.core.views

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(apps.core.views, "platform_health", crash)
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/health/")
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "server_error"
    assert "boom" not in error["message"]  # nothing of the server's insides


def test_a_failed_csrf_check_under_the_api_is_json(settings, rf):
    from django.utils.module_loading import import_string

    view = import_string(settings.CSRF_FAILURE_VIEW)
    response = view(rf.post("/api/v1/projects/"), reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert _error(response)["code"] == "csrf_failed"
    page = view(rf.post("/login"), reason="CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


def test_django_error_handlers_answer_json_under_the_api_only(rf):
    from django.utils.module_loading import import_string

    from bakehouse import urls

    for name, status in (("handler400", 400), ("handler403", 403), ("handler404", 404)):
        handler = import_string(getattr(urls, name))
        assert _error(handler(rf.get("/api/v1/x/"), Exception()))["code"]
        assert handler(rf.get("/api/v1/x/"), Exception()).status_code == status
        assert handler(rf.get("/somewhere"), Exception())["Content-Type"].startswith("text/html")


def test_a_json_body_over_the_limit_is_413(auth_client, settings):
    """DRF's JSON parser read any body whole into memory."""
    settings.API_MAX_JSON_BYTES = 1000
    response = auth_client.post(
        "/api/v1/projects/", {"name": "x" * 2000, "labels": []}, format="json"
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    ok = auth_client.post("/api/v1/projects/", {"name": "Small"}, format="json")
    assert ok.status_code != 413
