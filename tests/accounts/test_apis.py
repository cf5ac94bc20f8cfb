import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-pass-42"


def test_signup_returns_token_that_authenticates(api_client):
    response = api_client.post(
        "/api/v1/auth/signup/", {"username": "bob", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    assert User.objects.filter(username="bob").exists()

    api_client.logout()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api_client.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "bob"


def test_token_endpoint_exchanges_credentials(api_client, user):
    response = api_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "s3cret-pass-1"}, format="json"
    )
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_wrong_password_is_401_with_message(api_client, user):
    response = api_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Wrong user name or password."


def test_missing_fields_are_400_naming_the_field(api_client):
    response = api_client.post("/api/v1/auth/token/", {"username": "alice"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "password" in error["message"]
    assert "password" in error["fields"]


@pytest.mark.parametrize(
    ("password", "fragment"),
    [("short", "too short"), ("password123", "too common"), ("12345678901", "entirely numeric")],
)
def test_weak_passwords_are_refused(api_client, password, fragment):
    response = api_client.post(
        "/api/v1/auth/signup/", {"username": "carol", "password": password}, format="json"
    )
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert not User.objects.filter(username="carol").exists()


def test_duplicate_username_is_refused(api_client, user):
    response = api_client.post(
        "/api/v1/auth/signup/", {"username": "ALICE", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "username_taken"


def test_signup_can_be_turned_off(api_client, settings):
    settings.SIGNUP_ENABLED = False
    response = api_client.post(
        "/api/v1/auth/signup/", {"username": "dave", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert "turned off" in response.json()["error"]["message"]
    assert api_client.get("/api/v1/auth/config/").json() == {"signup_enabled": False}


def test_unauthenticated_and_bad_token_are_401(api_client):
    assert api_client.get("/api/v1/auth/me/").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."


def test_session_login_and_logout(client, user):
    response = client.post(
        "/api/v1/auth/login/",
        {"username": "alice", "password": "s3cret-pass-1"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert client.get("/api/v1/auth/me/").status_code == 200
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert (
        client.get("/api/v1/auth/me/").status_code == 403
        or client.get("/api/v1/auth/me/").status_code == 401
    )


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_schema_and_docs_are_served(api_client):
    schema = api_client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/signup/" in schema.content
    assert api_client.get("/api/docs/").status_code == 200
