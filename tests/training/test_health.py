"""Data health (issue 14): the report job, dismissals, suggestions and their API."""

from __future__ import annotations

import random

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps import ml
from apps.datasets.models import Image
from apps.projects.models import Label
from apps.training import services as training_services
from apps.training.health import compute
from apps.training.health.compute import health_job_run
from apps.training.health.selectors import health_report_get
from apps.training.health.services import health_dismiss, health_job_request
from apps.training.models import Embedding, HealthJob, ModelVersion, TrainingJob
from apps.training.runner import TrainOutput
from apps.training.suggestions import suggestions_list
from tests.factories import ImageFactory, ProjectFactory
from tests.training.conftest import add_real_images

pytestmark = pytest.mark.django_db

DIM = 32


def _centres(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32) * 3.0


def _store(image: Image, vector: np.ndarray, backbone: str) -> None:
    Embedding.objects.create(
        image=image, backbone=backbone, vector=np.asarray(vector, "<f4").tobytes()
    )


def _synthetic_project(user, *, per_class: int = 20, labels=("a", "b", "c"), seed: int = 1):
    """Images whose cached embeddings lie in one tight cluster per label (ids by cluster)."""
    project = ProjectFactory(owner=user, labels=list(labels))
    rng = np.random.default_rng(seed)
    centres = _centres(len(labels), seed)
    by_class: dict[str, list[Image]] = {}
    for k, name in enumerate(labels):
        images = ImageFactory.create_batch(per_class, project=project, label=name, split="train")
        for image in images:
            _store(image, centres[k] + rng.normal(size=DIM) * 0.5, project.backbone)
        by_class[name] = images
    return project, by_class, centres


def _relabel(image: Image, name: str) -> None:
    image.label = Label.objects.get(project=image.project, name=name)
    image.save(update_fields=["label"])


def _compute(project) -> HealthJob:
    job = health_job_request(project=project)
    ran = health_job_run(job_id=job.pk)
    assert ran is not None and ran.status == HealthJob.Status.SUCCEEDED, ran and ran.error
    return ran


def test_flipped_labels_are_flagged_with_the_right_suggestion(user):
    project, by_class, _ = _synthetic_project(user)
    flipped = [by_class["a"][0], by_class["b"][1]]
    _relabel(flipped[0], "c")
    _relabel(flipped[1], "a")
    _compute(project)
    report = health_report_get(project=project)
    assert report["status"] == "ready"
    issues = {issue["image"]: issue for issue in report["label_issues"]}
    assert issues[flipped[0].pk]["label"] == "c" and issues[flipped[0].pk]["suggested"] == "a"
    assert issues[flipped[1].pk]["label"] == "a" and issues[flipped[1].pk]["suggested"] == "b"
    assert len(issues) <= 4  # the flagged list is mostly the flips
    cv = report["cv_accuracy"]
    assert cv["images"] == 60 and cv["low"] <= cv["value"] <= cv["high"]
    assert cv["value"] == pytest.approx(58 / 60, abs=0.02)


def test_a_dismissed_label_stays_hidden_until_the_label_changes(user):
    project, by_class, _ = _synthetic_project(user)
    wrong = by_class["a"][0]
    _relabel(wrong, "b")
    _compute(project)
    assert wrong.pk in [i["image"] for i in health_report_get(project=project)["label_issues"]]

    health_dismiss(project=project, image_id=wrong.pk, kind="label")
    health_dismiss(project=project, image_id=wrong.pk, kind="label")  # idempotent
    assert wrong.pk not in [i["image"] for i in health_report_get(project=project)["label_issues"]]
    _compute(project)  # found again, still kept
    assert wrong.pk not in [i["image"] for i in health_report_get(project=project)["label_issues"]]

    _relabel(wrong, "c")  # another wrong label: the dismissal was for "b"
    _compute(project)
    issues = {i["image"]: i for i in health_report_get(project=project)["label_issues"]}
    assert issues[wrong.pk]["label"] == "c" and issues[wrong.pk]["suggested"] == "a"


def test_accepting_the_suggestion_removes_the_issue_at_once(user):
    project, by_class, _ = _synthetic_project(user)
    wrong = by_class["a"][0]
    _relabel(wrong, "b")
    _compute(project)
    _relabel(wrong, "a")
    assert wrong.pk not in [i["image"] for i in health_report_get(project=project)["label_issues"]]


def test_duplicates_span_every_image_and_leaks_come_first_outliers_and_dismissals(user):
    project, by_class, centres = _synthetic_project(user)
    original = by_class["a"][3]
    vector = np.frombuffer(bytes(original.embeddings.get().vector), np.float32)
    twin = ImageFactory(project=project, label=None)  # unlabelled images count too
    _store(twin, vector + 0.01, project.backbone)
    leak = ImageFactory(project=project, label="b", split="test")
    source = np.frombuffer(bytes(by_class["b"][2].embeddings.get().vector), np.float32)
    _store(leak, source + 0.01, project.backbone)
    stranger = ImageFactory(project=project, label="c", split="train")
    _store(stranger, -centres.sum(axis=0) * 2, project.backbone)
    _compute(project)
    report = health_report_get(project=project)
    pairs = [(set(p["images"]), p["cross_split"]) for p in report["near_duplicates"]]
    assert pairs[0] == ({leak.pk, by_class["b"][2].pk}, True)
    assert ({original.pk, twin.pk}, False) in pairs
    assert report["outliers"][0]["image"] == stranger.pk

    health_dismiss(project=project, image_id=twin.pk, kind="duplicate")
    health_dismiss(project=project, image_id=stranger.pk, kind="outlier")
    report = health_report_get(project=project)
    assert all(twin.pk not in p["images"] for p in report["near_duplicates"])
    assert stranger.pk not in [o["image"] for o in report["outliers"]]

    leak.delete()  # deleted images drop out of the report
    report = health_report_get(project=project)
    assert all(leak.pk not in p["images"] for p in report["near_duplicates"])


def test_a_resized_real_copy_across_train_and_test_is_a_leak(project, hymenoptera):
    from PIL import Image as PILImage

    images = add_real_images(project, hymenoptera, split_counts={"train": 5})
    source = images[0]
    with default_storage.open(source.normalized.name, "rb") as handle:
        picture = PILImage.open(handle).convert("RGB")
    smaller = picture.resize((picture.width * 2 // 3, picture.height * 2 // 3))
    import io

    buffer = io.BytesIO()
    smaller.save(buffer, format="JPEG", quality=80)
    copy = ImageFactory(project=project, label="ants", split="test", data=buffer.getvalue())
    _compute(project)  # embeds every image first
    pairs = health_report_get(project=project)["near_duplicates"]
    assert pairs and set(pairs[0]["images"]) == {source.pk, copy.pk}
    assert pairs[0]["cross_split"] is True


def test_recompute_is_idempotent_and_only_a_queued_job_runs(user):
    project, by_class, _ = _synthetic_project(user)
    _relabel(by_class["a"][0], "b")
    first = health_job_request(project=project)
    assert health_job_request(project=project).pk == first.pk  # one queued job per project
    assert health_job_run(job_id=first.pk).status == HealthJob.Status.SUCCEEDED
    assert health_job_run(job_id=first.pk) is None  # a duplicate message does nothing
    before = health_report_get(project=project)
    second = _compute(project)
    after = health_report_get(project=project)
    assert second.pk != first.pk
    assert {k: v for k, v in before.items() if k != "computed_at"} == {
        k: v for k, v in after.items() if k != "computed_at"
    }
    assert list(HealthJob.objects.filter(project=project)) == [second]  # older ones pruned


def test_an_attempt_that_lost_its_job_writes_nothing(user, monkeypatch):
    project, _, _ = _synthetic_project(user, per_class=5)
    job = health_job_request(project=project)
    real = compute.health_compute

    def taken_meanwhile(**kwargs):
        report = real(**kwargs)
        # The reaper handed the job to another attempt while this one worked.
        HealthJob.objects.filter(pk=job.pk).update(attempts=5)
        return report

    monkeypatch.setattr(compute, "health_compute", taken_meanwhile)
    health_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == HealthJob.Status.RUNNING and job.computed_at is None
    assert job.label_issues == [] and job.cv_accuracy is None
    assert health_report_get(project=project)["status"] == "computing"


def test_a_failure_is_reported_and_the_previous_report_stays(user, monkeypatch):
    project, _, _ = _synthetic_project(user, per_class=5)
    _compute(project)

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(compute, "health_compute", broken)
    health_job_run(job_id=health_job_request(project=project).pk)
    report = health_report_get(project=project)
    assert report["status"] == "failed" and report["error"] == compute.HEALTH_FAILED_ERROR
    assert report["cv_accuracy"]["images"] == 15


def test_a_successful_training_queues_the_report(project, monkeypatch):
    job = TrainingJob.objects.create(project=project, snapshot=[])
    output = TrainOutput(
        backbone="efficientnet_lite0",
        labels=("ants", "bees"),
        metrics={"accuracy": 1.0},
        files=[("onnx_file", "model.onnx", b"x"), ("head_file", "head.pt", b"y")],
    )
    monkeypatch.setattr(training_services, "_attempt", lambda job: (output, {}))
    training_services.training_job_run(job_id=job.pk)
    assert HealthJob.objects.get(project=project).status == HealthJob.Status.QUEUED


# --- Suggestions ---------------------------------------------------------------------------


def _head_version(project, centres: np.ndarray, labels: list[str]) -> ModelVersion:
    """A quick version whose head scores each class by closeness to its centre."""
    import torch

    weight = torch.from_numpy(centres / np.linalg.norm(centres, axis=1, keepdims=True))
    state = {"fc.weight": weight.float(), "fc.bias": torch.zeros(len(labels))}
    folder = f"projects/{project.pk}/models/1"
    return ModelVersion.objects.create(
        project=project,
        number=1,
        backbone=project.backbone,
        mode="quick",
        labels=labels,
        onnx_file=default_storage.save(f"{folder}/model.onnx", ContentFile(b"-")),
        head_file=default_storage.save(f"{folder}/head.pt", ContentFile(ml.state_bytes(state))),
    )


def test_suggestions_least_sure_first_no_twins_and_a_random_slice(user):
    project, _, centres = _synthetic_project(user, labels=("a", "b"), per_class=10)
    _head_version(project, centres, ["a", "b"])
    rng = np.random.default_rng(5)
    span, _ = np.linalg.qr(centres.T)  # the head sees only this plane

    def off_plane() -> np.ndarray:
        noise = rng.normal(size=DIM) * 3.0  # distinct images, the same two scores
        return noise - span @ (span.T @ noise)

    unlabelled = []
    # t: 0 = on centre a, 0.5 = halfway to b (the model's least sure).
    for t in (0.05, 0.45, 0.3, 0.1, 0.2, 0.15, 0.0, 0.02, 0.25, 0.35):
        image = ImageFactory(project=project, label=None)
        _store(
            image,
            centres[0] * (1 - t) + centres[1] * t + off_plane(),
            "efficientnet_lite0",
        )
        unlabelled.append((t, image))
    twin = ImageFactory(project=project, label=None)  # a copy of the least sure one
    vector = np.frombuffer(bytes(unlabelled[1][1].embeddings.get().vector), np.float32)
    _store(twin, vector + 0.001, project.backbone)
    _compute(project)

    results = suggestions_list(project=project, limit=5, rng=random.Random(0))
    assert len(results) == 5
    uncertain = [r for r in results if r["reason"] == "uncertain"]
    assert [r["reason"] for r in results] == ["uncertain"] * 4 + ["random"]
    ids = [r["image"] for r in results]
    assert not {twin.pk, unlabelled[1][1].pk} <= set(ids)  # never both twins
    by_t = {image.pk: t for t, image in unlabelled}
    by_t[twin.pk] = 0.45
    ts = [by_t[r["image"]] for r in uncertain]
    assert ts == sorted(ts, reverse=True) and ts[0] == 0.45
    assert all(r["predicted"] == "a" and 0.5 <= r["confidence"] <= 1 for r in results)
    labelled_now = Image.objects.get(pk=ids[0])
    _relabel(labelled_now, "a")  # labelled images leave the queue
    assert ids[0] not in [r["image"] for r in suggestions_list(project=project, limit=5)]


def test_before_any_model_the_queue_offers_the_most_typical_image_of_each_group(user, auth_client):
    """No labels, no model: one image of each group first (largest group first), each the
    one nearest its group's centre, so the first labels cover every kind of image."""
    project = ProjectFactory(owner=user, labels=["a", "b", "c"])
    centres = _centres(3, 7)
    rng = np.random.default_rng(3)
    group_of: dict[int, int] = {}
    for k, size in enumerate((14, 10, 6)):
        for _ in range(size):
            image = ImageFactory(project=project, label=None)
            _store(image, centres[k] + rng.normal(size=DIM) * 0.4, project.backbone)
            group_of[image.pk] = k
    results = suggestions_list(project=project, limit=5)
    assert [r["reason"] for r in results] == ["typical"] * 5
    assert [group_of[r["image"]] for r in results[:3]] == [0, 1, 2]
    assert [r["group_size"] for r in results[:3]] == [14, 10, 6]
    assert all(r["predicted"] is None and r["confidence"] is None for r in results)
    body = auth_client.get(f"/api/v1/projects/{project.pk}/suggestions/?limit=3").json()
    assert [group_of[r["image"]] for r in body["results"]] == [0, 1, 2]
    assert body["results"][0]["reason"] == "typical" and body["results"][0]["predicted"] is None


# --- API -----------------------------------------------------------------------------------


def test_health_api_get_post_dismiss(
    auth_client, user, other_client, django_capture_on_commit_callbacks
):
    project, by_class, _ = _synthetic_project(user, per_class=8)
    url = f"/api/v1/projects/{project.pk}/health/"
    body = auth_client.get(url).json()
    assert body["status"] == "none" and body["label_issues"] == [] and body["cv_accuracy"] is None
    wrong = by_class["a"][0]
    _relabel(wrong, "b")
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(url)
    assert response.status_code == 202
    body = auth_client.get(url).json()
    assert body["status"] == "ready" and body["computed_at"]
    assert set(body["cv_accuracy"]) == {"value", "low", "high", "images"}
    assert wrong.pk in [issue["image"] for issue in body["label_issues"]]
    # The documented keys, and the nearest labelled images that say why.
    assert set(body["label_issues"][0]) == {"image", "label", "suggested", "score", "neighbours"}

    dismiss = f"{url}dismiss/"
    response = auth_client.post(dismiss, {"image": wrong.pk, "kind": "label"}, format="json")
    assert response.status_code == 201, response.content
    assert wrong.pk not in [i["image"] for i in auth_client.get(url).json()["label_issues"]]
    bad_kind = auth_client.post(dismiss, {"image": wrong.pk, "kind": "blurry"}, format="json")
    assert bad_kind.status_code == 400 and bad_kind.json()["error"]["code"] == "invalid_kind"
    other = ImageFactory(project=ProjectFactory(owner=user))
    bad_image = auth_client.post(dismiss, {"image": other.pk, "kind": "outlier"}, format="json")
    assert bad_image.status_code == 400 and bad_image.json()["error"]["code"] == "invalid_image"
    assert other_client.get(url).status_code == 404
    assert other_client.post(dismiss, {"image": wrong.pk, "kind": "label"}).status_code == 404
    assert other_client.get(f"/api/v1/projects/{project.pk}/suggestions/").status_code == 404


def test_suggestions_api(auth_client, user):
    project, _, _ = _synthetic_project(user, labels=("a", "b"), per_class=4)
    url = f"/api/v1/projects/{project.pk}/suggestions/"
    assert auth_client.get(url).json() == {"results": []}
    assert auth_client.get(f"{url}?limit=0").status_code == 400
    assert auth_client.get(f"{url}?limit=abc").json()["error"]["code"] == "invalid_limit"


def test_the_analysis_of_thousands_of_images_takes_seconds(user, monkeypatch):
    """The job's own work beyond ml (queries, JSON) stays small: 3,000 cached embeddings."""
    import time

    project = ProjectFactory(owner=user, labels=["a", "b"])
    rng = np.random.default_rng(0)
    rows = [(int(k), "a" if k % 2 else "b") for k in range(3000)]
    features = rng.normal(size=(3000, 256)).astype(np.float32)
    monkeypatch.setattr(
        compute, "_rows", lambda pid: [(i, 1 if n == "a" else 2, n, "train") for i, n in rows]
    )
    monkeypatch.setattr(compute, "embeddings_compute", lambda **kw: 0)
    monkeypatch.setattr(
        compute, "embedding_vectors", lambda **kw: {i: features[i] for i, _ in rows}
    )
    started = time.perf_counter()
    report = compute.health_compute(project=project, version=None, beat=lambda: None)
    assert time.perf_counter() - started < 20
    assert report["cv_accuracy"]["images"] == 3000


def test_quick_training_stores_the_ood_reference(project, hymenoptera):
    from apps.training.health.reference import ood_reference_load
    from apps.training.services import training_job_create, training_job_run

    add_real_images(project, hymenoptera, split_counts={"train": 4, "test": 1})
    job = training_job_create(project=project)
    job = training_job_run(job_id=job.pk)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    version = job.model_version
    with default_storage.open(version.ood_file.name, "rb") as handle:
        reference = ood_reference_load(handle.read())
    assert reference.shape == (8, 1280)  # the train images, not the test ones
    assert HealthJob.objects.filter(project=project).exists()


def test_the_report_stores_what_the_insights_read(user):
    """Out-of-sample predictions and the learning curve are computed by the job, so the
    insights endpoints never run torch in the web process."""
    project, by_class, _ = _synthetic_project(user, per_class=6)
    Image.objects.filter(pk=by_class["a"][0].pk).update(split="test")
    job = _compute(project)
    job.refresh_from_db()
    stored = job.out_of_sample
    assert stored["labels"] == ["a", "b", "c"] and stored["model_version"] is None
    assert stored["sources"] == dict.fromkeys(("train", "val", "test"), "cross_validation")
    rows = {row[0]: row for row in stored["images"]}
    assert len(rows) == 18
    first = rows[by_class["a"][0].pk]
    assert first[1] == "a" and first[2] == "a" and 0 < first[3] <= 1 and first[4] == "test"
    curve = job.learning_curve
    assert curve["images"] == 18 and len(curve["points"]) == 4
    assert curve["fit"] is not None and {a["label"] for a in curve["advice"]} == {"a", "b", "c"}


def test_a_report_with_one_label_has_no_predictions_or_curve(user):
    project, _, _ = _synthetic_project(user, per_class=4, labels=("a",))
    job = _compute(project)
    job.refresh_from_db()
    assert job.out_of_sample is None
    assert job.learning_curve == {"images": 4, "points": [], "fit": None, "advice": []}
