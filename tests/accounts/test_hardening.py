"""Issue 12: attempt limits, expiring and revocable tokens, no user-name enumeration, CSRF on
log-in. Each test fails on the code before the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-pass-1"  # the `user` fixture's


def _login(client, username: str, password: str, path: str = "/api/v1/auth/login/"):
    return client.post(path, {"username": username, "password": password}, format="json")


def test_sixty_wrong_passwords_are_refused_after_ten(api_client, user):
    answers = [_login(api_client, "alice", f"guess-{i}") for i in range(60)]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert {a.status_code for a in answers[10:]} == {429}
    refused = answers[10]
    error = refused.json()["error"]
    assert error["code"] == "throttled"
    assert error["message"].startswith("Too many failed log-in attempts for this user name.")
    assert "Try again in 15 minutes." in error["message"]
    assert 850 <= int(refused["Retry-After"]) <= 900
    # Locked for now even with the right password, on the token endpoint as well.
    assert _login(api_client, "alice", PASSWORD).status_code == 429
    assert _login(api_client, "alice", PASSWORD, "/api/v1/auth/token/").status_code == 429


def test_the_limit_counts_failures_only_and_a_success_resets_it(api_client, user):
    for _ in range(3):
        for i in range(9):
            assert _login(api_client, "alice", f"guess-{i}").status_code == 401
        assert _login(api_client, "alice", PASSWORD).status_code == 200


def test_token_endpoint_counts_towards_the_same_limit(api_client, user):
    for i in range(5):
        assert _login(api_client, "alice", f"g{i}").status_code == 401
        assert _login(api_client, "alice", f"g{i}", "/api/v1/auth/token/").status_code == 401
    assert _login(api_client, "alice", PASSWORD, "/api/v1/auth/token/").status_code == 429


def test_unknown_user_names_are_limited_like_known_ones(api_client, user):
    answers = [_login(api_client, "nobody-here", f"guess-{i}") for i in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert "for this user name" in answers[-1].json()["error"]["message"]
    assert _login(api_client, "alice", PASSWORD).status_code == 200  # alice is not locked


def test_many_user_names_from_one_address_hit_the_address_limit(api_client, user, settings):
    settings.AUTH_THROTTLE_RATES = {
        **settings.AUTH_THROTTLE_RATES,
        "login_failures_per_address": "5/15min",
    }
    for i in range(5):
        assert _login(api_client, f"name-{i}", "x").status_code == 401
    refused = _login(api_client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert "from your address" in refused.json()["error"]["message"]
    # A forged X-Forwarded-For is not a new address (no proxy is declared).
    forged = APIClient(HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert _login(forged, "alice", PASSWORD).status_code == 429
    # Another address is not held up.
    other = APIClient(REMOTE_ADDR="198.51.100.7")
    assert _login(other, "alice", PASSWORD).status_code == 200


def test_sign_ups_are_limited_per_address(api_client, settings):
    settings.AUTH_THROTTLE_RATES = {**settings.AUTH_THROTTLE_RATES, "signups_per_address": "3/hour"}
    for i in range(3):
        response = api_client.post(
            "/api/v1/auth/signup/",
            {"username": f"new-{i}", "password": "a-long-enough-pass-42"},
            format="json",
        )
        assert response.status_code == 201
    refused = api_client.post(
        "/api/v1/auth/signup/",
        {"username": "new-3", "password": "a-long-enough-pass-42"},
        format="json",
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith("Too many sign-ups from your address.")
    assert int(refused["Retry-After"]) > 3000
    assert not User.objects.filter(username="new-3").exists()


def test_expired_token_is_401_with_a_clear_message(api_client, user, settings):
    settings.TOKEN_TTL_DAYS = 14
    token = Token.objects.create(user=user)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=14, seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert "expired" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"] == "Token"

    # The token endpoint hands out a new key; the old one never works again.
    api_client.credentials()
    fresh = _login(api_client, "alice", PASSWORD, "/api/v1/auth/token/").json()["token"]
    assert fresh != token.key
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {fresh}")
    assert api_client.get("/api/v1/auth/me/").status_code == 200


def test_token_younger_than_its_lifetime_works_and_zero_means_never(api_client, user, settings):
    token = Token.objects.create(user=user)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=13))
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api_client.get("/api/v1/auth/me/").status_code == 200
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=999))
    settings.TOKEN_TTL_DAYS = 0
    assert api_client.get("/api/v1/auth/me/").status_code == 200


def test_logout_revokes_the_token_it_was_called_with(api_client, user):
    token = _login(api_client, "alice", PASSWORD, "/api/v1/auth/token/").json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/v1/auth/me/").status_code == 200
    assert api_client.post("/api/v1/auth/logout/").status_code == 204
    assert not Token.objects.filter(key=token).exists()
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid token."


def test_session_logout_keeps_the_scripts_token(client, user):
    token = Token.objects.create(user=user)
    assert _login(client, "alice", PASSWORD).status_code == 200
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert Token.objects.filter(key=token.key).exists()


@pytest.mark.parametrize("path", ["/api/v1/auth/login/", "/api/v1/auth/token/"])
def test_log_in_errors_are_identical_for_unknown_and_known_users(
    api_client, user, path, monkeypatch
):
    hashed = []
    real_encode, real_verify = MD5PasswordHasher.encode, MD5PasswordHasher.verify
    monkeypatch.setattr(
        MD5PasswordHasher,
        "encode",
        lambda self, *a: hashed.append("encode") or real_encode(self, *a),
    )
    monkeypatch.setattr(
        MD5PasswordHasher,
        "verify",
        lambda self, *a: hashed.append("verify") or real_verify(self, *a),
    )
    known = _login(api_client, "alice", "wrong-password", path)
    known_hashes = len(hashed)
    unknown = _login(api_client, "no-such-user", "wrong-password", path)
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()
    assert known.json()["error"]["message"] == "Wrong user name or password."
    # The password hasher runs for an unknown name too, so timing does not tell them apart.
    assert known_hashes >= 1 and len(hashed) - known_hashes >= 1


def test_cross_site_form_post_to_log_in_is_403_json(user):
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/api/v1/auth/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "CSRF" in response.json()["error"]["message"]
    assert "_auth_user_id" not in browser.session


def test_same_site_log_in_with_the_csrf_token_works(user):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/login")  # the app's page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/api/v1/auth/login/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
    assert browser.get("/api/v1/auth/me/").status_code == 200


def test_sign_up_without_csrf_gets_a_token_but_no_session(db):
    script = Client(enforce_csrf_checks=True)
    response = script.post(
        "/api/v1/auth/signup/",
        {"username": "scripted", "password": "a-long-enough-pass-42"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert len(response.json()["token"]) == 40
    assert "_auth_user_id" not in script.session
    assert script.get("/api/v1/auth/me/").status_code in (401, 403)
