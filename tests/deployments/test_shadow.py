"""A shadow rollout (issue 16): the live version answers every request, the candidate runs on
the same inputs off the request path, both answers are kept; disagreements are settled
into the data set; the gate promotes by itself only when the model diff allows it."""

from __future__ import annotations

import pytest

from apps.core.hooks import on_candidate_report
from apps.datasets.models import Image
from apps.deployments.canary import deployment_candidate_set
from apps.deployments.models import Deployment, DeploymentChange, ShadowResult
from apps.deployments.serving import ServingRegistry
from apps.deployments.shadow_gate import shadow_gate_check
from apps.deployments.shadow_worker import ShadowJob, ShadowWriter, shadow_writer
from apps.training.models import ModelVersion
from tests.deployments.conftest import upload
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shadow_in_request(settings):
    """The candidate runs in the request (no thread), so counts are known at once."""
    settings.SHADOW_BACKGROUND = False


@pytest.fixture
def reports():
    seen: list[dict] = []

    def receive(**kwargs):
        seen.append(kwargs)

    on_candidate_report.connect(receive)
    yield seen
    on_candidate_report.disconnect(receive)


def _url(deployment, tail: str = "") -> str:
    return f"/api/v1/deployments/{deployment.slug}/candidate/{tail}"


def _predict(client, slug: str, data: bytes) -> dict:
    response = client.post(f"/api/v1/predict/{slug}/", {"image": upload(data)}, format="multipart")
    assert response.status_code == 200, response.content
    return response.json()


def _start(auth_client, deployment, version, **extra) -> dict:
    body = {"model_version": version.pk, "mode": "shadow", **extra}
    response = auth_client.put(_url(deployment), body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _disagree(result: ShadowResult) -> None:
    """Make a logged shadow answer a disagreement (the two test models mostly agree)."""
    other = "bees" if result.live_label == "ants" else "ants"
    ShadowResult.objects.filter(pk=result.pk).update(candidate_label=other, agree=False)


def test_shadow_answers_with_live_and_logs_both(
    auth_client, project, make_version, deployment, key_client, ant_jpeg, bee_jpeg, user
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    # What v2 answers on its own (another deployment serving it).
    from apps.deployments.services import api_key_create, deployment_create

    alone = deployment_create(project=project, model_version_id=v2.pk, created_by=user)
    _, key = api_key_create(deployment=alone, name="v2")
    key_client_v2 = type(key_client)()
    key_client_v2.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    v2_says = {
        name: _predict(key_client_v2, alone.slug, data)["prediction"]
        for name, data in (("ant", ant_jpeg), ("bee", bee_jpeg))
    }

    state = _start(auth_client, deployment, v2)
    assert (state["mode"], state["model_version"], state["percent"]) == ("shadow", v2.pk, None)
    assert state["requests"] == 0 and state["agreement"] is None and state["dropped"] == 0
    assert state["gate"]["state"] == "off"

    answers = []
    for name, data in [("ant", ant_jpeg), ("bee", bee_jpeg)] * 3:
        answers.append((name, _predict(key_client, deployment.slug, data)))
    # The live version answers every request.
    assert {a["model_version"] for _, a in answers} == {v1.pk}

    rows = {r.prediction_uid.hex: r for r in ShadowResult.objects.filter(deployment=deployment)}
    assert len(rows) == 6
    for name, answer in answers:
        row = rows[answer["id"].replace("-", "")]
        assert row.live_version_id == v1.pk and row.candidate_version_id == v2.pk
        assert row.live_label == answer["prediction"]["label"]
        assert row.live_confidence == pytest.approx(answer["prediction"]["confidence"])
        assert row.candidate_label == v2_says[name]["label"]
        assert row.candidate_confidence == pytest.approx(v2_says[name]["confidence"], abs=1e-5)
        assert row.agree == (row.live_label == row.candidate_label)

    agreed = sum(r.agree for r in rows.values())
    state = auth_client.get(_url(deployment)).json()
    assert state["requests"] == 6 and state["agreed"] == agreed
    assert state["agreement"] == pytest.approx(agreed / 6)
    assert state["disagreements_count"] == 6 - agreed == len(state["disagreements"])
    summary = auth_client.get(f"/api/v1/deployments/{deployment.slug}/").json()["candidate"]
    assert summary["mode"] == "shadow" and summary["requests"] == 6


def test_every_process_sees_the_shadow(
    auth_client, project, make_version, deployment, django_capture_on_commit_callbacks
):
    v2 = make_version(project, "v2")
    other_process = ServingRegistry()
    with django_capture_on_commit_callbacks(execute=True):
        deployment_candidate_set(
            deployment=deployment,
            model_version_id=v2.pk,
            mode="shadow",
            percent=None,
            gate_min_requests=None,
        )
    other_process.refresh()
    live = other_process.deployment(deployment.slug)
    assert live.shadow is not None and live.shadow.model_version_id == v2.pk
    assert live.canary is None and live.model_version_id == deployment.model_version_id


# Committed for real: flush() writes from this thread as the writer's own thread would
# (outside a transaction), which a test transaction would not allow on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_a_full_queue_drops_and_counts(project, make_version, deployment, settings):
    settings.SHADOW_BACKGROUND = True
    settings.SHADOW_MAX_QUEUE = 2
    v2 = make_version(project, "v2")
    deployment_candidate_set(deployment=deployment, model_version_id=v2.pk, mode="shadow")
    writer = ShadowWriter()
    writer._ensure_thread = lambda: None  # no thread: nothing is taken off the queue
    live = ServingRegistry().deployment(deployment.slug)
    import uuid

    import numpy as np
    from django.utils import timezone

    from apps import ml
    from tests.deployments.conftest import png_bytes

    batch = ml.preprocess_batch([ml.open_image(png_bytes(), max_pixels=10**7).image], live.backbone)
    jobs = [
        ShadowJob(
            deployment_id=live.id,
            live_version_id=live.model_version_id,
            candidate=live.shadow,
            uids=[uuid.uuid4()],
            live_answers=[("ants", 0.9)],
            created_at=timezone.now(),
            batch=batch,
        )
        for _ in range(5)
    ]
    writer.submit(jobs)
    assert (writer.pending(), writer.dropped) == (2, 3)
    assert isinstance(jobs[0].batch, np.ndarray)
    assert writer.flush()
    deployment.refresh_from_db()
    assert deployment.shadow_dropped == 3
    assert ShadowResult.objects.filter(deployment=deployment).count() == 2


def test_the_request_never_waits_for_a_full_queue(
    auth_client, project, make_version, deployment, key_client, ant_jpeg, settings
):
    settings.SHADOW_BACKGROUND = True
    settings.SHADOW_MAX_QUEUE = 0
    v2 = make_version(project, "v2")
    _start(auth_client, deployment, v2)
    for _ in range(3):
        _predict(key_client, deployment.slug, ant_jpeg)
    shadow_writer.flush()
    state = auth_client.get(_url(deployment)).json()
    assert state["dropped"] == 3 and state["requests"] == 0


def test_settling_a_disagreement_labels_it_into_the_data_set(
    auth_client, project, make_version, deployment, key_client, ant_jpeg
):
    v2 = make_version(project, "v2")
    _start(auth_client, deployment, v2)
    answer = _predict(key_client, deployment.slug, ant_jpeg)
    _predict(key_client, deployment.slug, ant_jpeg)
    result = ShadowResult.objects.get(prediction_uid=answer["id"])
    _disagree(result)
    result.refresh_from_db()

    state = auth_client.get(_url(deployment)).json()
    assert state["disagreements_count"] == 1
    shown = state["disagreements"][0]
    assert shown["id"] == result.pk and shown["prediction"] == answer["id"]
    assert shown["live"]["label"] == result.live_label
    assert shown["candidate"]["label"] == result.candidate_label
    assert shown["settled_label"] is None and shown["image_url"]

    bad = auth_client.post(_url(deployment, f"disagreements/{result.pk}/settle/"), {"label": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_label"

    settle = _url(deployment, f"disagreements/{result.pk}/settle/")
    response = auth_client.post(settle, {"label": result.candidate_label}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    image = Image.objects.select_related("label").get(pk=body["image"])
    assert image.project_id == project.pk and image.label.name == result.candidate_label
    assert body["disagreement"]["settled_label"] == result.candidate_label

    state = auth_client.get(_url(deployment)).json()
    assert state["settled"] == {
        "live_right": 0,
        "candidate_right": 1,
        "neither_right": 0,
        "unsettled": 0,
    }
    # Again: the same image, nothing copied twice.
    again = auth_client.post(settle, {"label": result.candidate_label}, format="json")
    assert again.status_code == 200 and again.json()["image"] == image.pk
    assert Image.objects.filter(project=project).count() == 1

    listed = auth_client.get(_url(deployment, "disagreements/?settled=true")).json()
    assert [row["id"] for row in listed["results"]] == [result.pk]
    assert auth_client.get(_url(deployment, "disagreements/?settled=false")).json()["count"] == 0


def test_settling_needs_stored_images(
    auth_client, project, make_version, deployment, key_client, ant_jpeg
):
    Deployment.objects.filter(pk=deployment.pk).update(store_images=False)
    v2 = make_version(project, "v2")
    _start(auth_client, deployment, v2)
    answer = _predict(key_client, deployment.slug, ant_jpeg)
    result = ShadowResult.objects.get(prediction_uid=answer["id"])
    _disagree(result)
    response = auth_client.post(
        _url(deployment, f"disagreements/{result.pk}/settle/"), {"label": "ants"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_not_stored"
    assert "store images" in response.json()["error"]["message"]
    assert not Image.objects.filter(project=project).exists()


def test_promote_and_abort_a_shadow(
    auth_client, user, project, make_version, deployment, key_client, ant_jpeg, reports
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    _start(auth_client, deployment, v2)
    _predict(key_client, deployment.slug, ant_jpeg)
    assert auth_client.delete(_url(deployment)).status_code == 204
    assert auth_client.get(_url(deployment)).status_code == 404
    assert reports[-1]["outcome"] == "aborted" and reports[-1]["report"]["requests"] == 1

    _start(auth_client, deployment, v2)
    response = auth_client.post(_url(deployment, "promote/"))
    assert response.status_code == 200, response.content
    assert response.json()["model_version"]["id"] == v2.pk
    change = DeploymentChange.objects.filter(deployment=deployment).first()
    assert (change.reason, change.from_version_id, change.to_version_id) == (
        "promotion",
        v1.pk,
        v2.pk,
    )
    assert change.changed_by_id == user.pk
    assert reports[-1]["outcome"] == "promoted" and not reports[-1]["automatic"]
    assert _predict(key_client, deployment.slug, ant_jpeg)["model_version"] == v2.pk


# --- the gate ---------------------------------------------------------------------------


def _diffable(version: ModelVersion, rows: list[dict], wrong: dict[int, str]) -> None:
    """Give a served test version held-out answers the model diff can read."""
    by_id = {row["id"]: row for row in rows}
    ModelVersion.objects.filter(pk=version.pk).update(
        mode="finetune",
        snapshot=rows,
        metrics={
            "accuracy": 0.9,
            "evaluated_on": "test",
            "counts": {"deleted_since_snapshot": 0},
            "misclassified": [
                {"id": i, "true": by_id[i]["label"], "predicted": p, "confidence": 0.7}
                for i, p in wrong.items()
            ],
        },
    )


@pytest.fixture
def test_rows(project):
    rows = []
    for label in ("ants", "bees"):
        for split in ["train"] * 4 + ["test"] * 12:
            image = ImageFactory(project=project, label=label, split=split)
            rows.append({"id": image.id, "label": label, "split": split})
    return rows


def _gated(auth_client, key_client, deployment, v2, ant_jpeg, requests: int = 3) -> None:
    _start(auth_client, deployment, v2, gate_min_requests=requests, gate_min_agreement=0.0)
    for _ in range(requests):
        _predict(key_client, deployment.slug, ant_jpeg)


def test_gate_refuses_a_candidate_whose_recall_falls(
    auth_client, project, make_version, deployment, key_client, ant_jpeg, test_rows, reports
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    bees = [row["id"] for row in test_rows if row["label"] == "bees" and row["split"] == "test"]
    _diffable(v1, test_rows, {})
    _diffable(v2, test_rows, {image: "ants" for image in bees})

    _start(auth_client, deployment, v2, gate_min_requests=3, gate_min_agreement=0.0)
    _predict(key_client, deployment.slug, ant_jpeg)
    assert shadow_gate_check(deployment_id=deployment.pk) == "waiting"
    for _ in range(2):
        _predict(key_client, deployment.slug, ant_jpeg)

    assert shadow_gate_check(deployment_id=deployment.pk) == "blocked"
    deployment.refresh_from_db()
    assert deployment.model_version_id == v1.pk and deployment.candidate_version_id == v2.pk
    assert not DeploymentChange.objects.filter(deployment=deployment, reason="promotion")
    gate = auth_client.get(_url(deployment)).json()["gate"]
    assert gate["state"] == "blocked" and gate["enabled"]
    assert gate["checks"]["requests"]["passed"] and gate["checks"]["answers"]["passed"]
    assert not gate["checks"]["recall"]["passed"]
    assert "“bees” falls from 100.0 % to 0.0 %" in gate["reasons"][0]
    assert deployment.gate_report["state"] == "blocked"
    assert reports == []


def test_gate_promotes_by_itself_once(
    auth_client, project, make_version, deployment, key_client, ant_jpeg, test_rows, reports
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    _diffable(v1, test_rows, {})
    _diffable(v2, test_rows, {})
    _gated(auth_client, key_client, deployment, v2, ant_jpeg)

    assert auth_client.get(_url(deployment)).json()["gate"]["state"] == "ready"
    assert shadow_gate_check(deployment_id=deployment.pk) == "promoted"
    assert shadow_gate_check(deployment_id=deployment.pk) == "off"  # safe to run twice

    deployment.refresh_from_db()
    assert deployment.model_version_id == v2.pk and deployment.candidate_version_id is None
    changes = DeploymentChange.objects.filter(deployment=deployment, reason="promotion")
    assert [(c.from_version_id, c.to_version_id, c.changed_by_id) for c in changes] == [
        (v1.pk, v2.pk, None)
    ]
    assert [(r["outcome"], r["automatic"]) for r in reports] == [("promoted", True)]
    last = auth_client.get(f"/api/v1/deployments/{deployment.slug}/").json()["last_gate"]
    assert last["state"] == "promoted" and last["promoted_version_number"] == v2.number
    assert any("3 of 3 requests" in reason for reason in last["reasons"])


def test_an_aborted_shadow_sends_candidate_report(
    auth_client, project, make_version, deployment, key_client, ant_jpeg, settings
):
    import json

    from apps.webhooks.models import WebhookDelivery
    from apps.webhooks.services import webhook_create
    from tests.webhooks.conftest import allow_local

    allow_local(settings)
    webhook, _ = webhook_create(
        project=project, url="http://127.0.0.1:9/bakehouse", events=["candidate.report"]
    )
    v2 = make_version(project, "v2")
    _start(auth_client, deployment, v2)
    _predict(key_client, deployment.slug, ant_jpeg)
    assert auth_client.delete(_url(deployment)).status_code == 204
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert delivery.event_type == "candidate.report"
    data = json.loads(delivery.body)["data"]
    assert (data["outcome"], data["automatic"], data["mode"]) == ("aborted", False, "shadow")
    assert data["requests"] == 1 and data["candidate_version"] == v2.number


def test_settled_disagreements_can_open_the_gate(
    auth_client, project, make_version, deployment, key_client, ant_jpeg, test_rows
):
    from apps.deployments.shadow_tasks import shadow_gate_check as beat_task

    v2 = make_version(project, "v2")
    _diffable(deployment.model_version, test_rows, {})
    _diffable(v2, test_rows, {})
    _start(auth_client, deployment, v2, gate_min_requests=2, gate_min_agreement=1.0)
    answers = [_predict(key_client, deployment.slug, ant_jpeg) for _ in range(2)]
    result = ShadowResult.objects.get(prediction_uid=answers[0]["id"])
    _disagree(result)
    result.refresh_from_db()

    gate = auth_client.get(_url(deployment)).json()["gate"]
    assert gate["state"] == "blocked" and not gate["checks"]["answers"]["passed"]
    assert "Agreement 50.0 % (needs 100.0 %)" in gate["reasons"][0]
    assert beat_task.delay().get() == 0

    settle = _url(deployment, f"disagreements/{result.pk}/settle/")
    assert auth_client.post(settle, {"label": result.candidate_label}).status_code == 201
    assert auth_client.get(_url(deployment)).json()["gate"]["state"] == "ready"
    assert beat_task.delay().get() == 1
    deployment.refresh_from_db()
    assert deployment.model_version_id == v2.pk
