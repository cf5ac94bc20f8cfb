"""Issue 13: the browser app asks who is logged in on every page; a logged-out visitor is a
normal answer (200), not a 401 the console shows as an error."""

import pytest

pytestmark = pytest.mark.django_db


def test_session_answers_logged_out_visitors_with_200(api_client):
    response = api_client.get("/api/v1/auth/session/")
    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "user": None}
    assert "csrftoken" in response.cookies


def test_session_names_the_logged_in_user(auth_client, user):
    response = auth_client.get("/api/v1/auth/session/")
    assert response.status_code == 200
    body = response.json()
    assert body["authenticated"] is True
    assert body["user"]["username"] == user.username
    assert set(body["user"]) == {"id", "username", "email", "signup_enabled", "is_staff"}
