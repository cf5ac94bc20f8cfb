"""The webhooks API: the secret once, addresses checked by the guarded fetcher, the test
event and the delivery log."""

from __future__ import annotations

import pytest

from apps.webhooks.models import Webhook
from tests.webhooks.conftest import receiver_running
from tests.webhooks.test_services import verify

pytestmark = pytest.mark.django_db

ALL_EVENTS = [
    "training.succeeded",
    "training.failed",
    "batch.succeeded",
    "batch.failed",
    "drift.alert",
    "deployment.changed",
    "candidate.report",
]


def _url(project) -> str:
    return f"/api/v1/projects/{project.pk}/webhooks/"


def test_the_secret_is_shown_once(auth_client, project, local):
    answer = auth_client.post(
        _url(project), {"url": "http://127.0.0.1:9/hook", "events": ALL_EVENTS}, format="json"
    )
    assert answer.status_code == 201, answer.json()
    created = answer.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert created["events"] == ALL_EVENTS and created["kind"] == "generic"
    assert Webhook.objects.get().secret == secret

    listed = auth_client.get(_url(project))
    detail = auth_client.get(f"{_url(project)}{created['id']}/")
    patched = auth_client.patch(
        f"{_url(project)}{created['id']}/", {"events": ["drift.alert"]}, format="json"
    )
    for answer in (listed, detail, patched):
        assert answer.status_code == 200
        assert secret not in answer.content.decode()
        assert "secret" not in answer.content.decode()
    assert patched.json()["events"] == ["drift.alert"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://2130706433/hook",
        "http://localhost/hook",
    ],
)
def test_a_private_address_is_refused_unless_allowlisted(auth_client, project, url):
    answer = auth_client.post(_url(project), {"url": url, "events": ["drift.alert"]}, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_url"
    assert "BAKEHOUSE_URL_ALLOWLIST" in error["message"]
    assert not Webhook.objects.exists()


def test_an_allowlisted_intranet_address_is_accepted(auth_client, project, settings):
    settings.URL_ALLOWLIST = ["10.0.0.0/8"]
    answer = auth_client.post(
        _url(project), {"url": "http://10.1.2.3/hook", "events": ["drift.alert"]}, format="json"
    )
    assert answer.status_code == 201


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.com/x", "events": ["drift.alert"]}, "invalid_url"),
        ({"url": "http://127.0.0.1:9/x", "events": []}, "invalid_events"),
        ({"url": "http://127.0.0.1:9/x", "events": ["model.exploded"]}, "invalid_events"),
        (
            {"url": "http://127.0.0.1:9/x", "events": ["drift.alert"], "kind": "teams"},
            "invalid_kind",
        ),
    ],
)
def test_bad_input_is_a_clear_400(auth_client, project, local, body, code):
    answer = auth_client.post(_url(project), body, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


def test_an_unknown_event_is_named_in_the_fields_too(auth_client, project, local):
    # ``fields`` held the list item's index alone (["0"]), not its message.
    body = {"url": "http://127.0.0.1:9/x", "events": ["drift.alert", "model.exploded"]}
    error = auth_client.post(_url(project), body, format="json").json()["error"]
    assert error["message"] == 'events: 1: "model.exploded" is not a valid choice.'
    assert error["fields"] == {"events": {"1": ['"model.exploded" is not a valid choice.']}}


def test_another_users_project_and_webhooks_are_404(auth_client, other_client, project, local):
    created = auth_client.post(
        _url(project), {"url": "http://127.0.0.1:9/x", "events": ["drift.alert"]}, format="json"
    ).json()
    assert other_client.get(_url(project)).status_code == 404
    assert other_client.get(f"{_url(project)}{created['id']}/").status_code == 404
    assert other_client.delete(f"{_url(project)}{created['id']}/").status_code == 404
    assert auth_client.delete(f"{_url(project)}{created['id']}/").status_code == 204
    assert not Webhook.objects.exists()


def test_send_a_test_event_and_read_the_delivery_log(
    auth_client, project, local, django_capture_on_commit_callbacks
):
    with receiver_running(script=[503]) as receiver:
        created = auth_client.post(
            _url(project), {"url": receiver.url, "events": ["drift.alert"]}, format="json"
        ).json()
        with django_capture_on_commit_callbacks(execute=True):
            answer = auth_client.post(f"{_url(project)}{created['id']}/test/")
        assert answer.status_code == 202
        assert answer.json()["event_type"] == "webhook.test"
        assert [r.answered for r in receiver.received] == [503, 200]
        assert all(verify(r, created["secret"]) for r in receiver.received)
        assert receiver.received[0].json["type"] == "webhook.test"

    log = auth_client.get(f"{_url(project)}{created['id']}/deliveries/")
    assert log.status_code == 200
    (delivery,) = log.json()
    assert delivery["status"] == "succeeded" and delivery["response_status"] == 200
    assert [t["status_code"] for t in delivery["tries"]] == [503, 200]
    assert delivery["tries"][0]["error"] == "The receiver answered 503."
    assert delivery["event_id"] == receiver.received[0].json["id"]
