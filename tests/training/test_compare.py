"""Comparing two model versions (issue 16): the data diff and the model diff, through the
API, on stored versions and on versions trained for real."""

from __future__ import annotations

import pytest

from apps import ml
from apps.datasets.models import Image
from apps.labeling.services import image_update
from apps.training.models import ModelVersion, TrainingJob
from apps.training.services import training_job_create
from tests.factories import ImageFactory, ProjectFactory
from tests.training.conftest import add_real_images

pytestmark = pytest.mark.django_db


def _version(project, number, rows, wrong, *, mode="finetune", **fields) -> ModelVersion:
    """A stored version tested on its snapshot's test rows, wrong on ``wrong``
    ({image id: predicted label})."""
    by_id = {row["id"]: row for row in rows}
    test = [row for row in rows if row["split"] == "test"]
    return ModelVersion.objects.create(
        project=project,
        number=number,
        backbone="efficientnet_lite0",
        mode=mode,
        labels=sorted({row["label"] for row in rows}),
        snapshot=rows,
        data_hash=ml.snapshot_hash(rows),
        metrics={
            "evaluated_on": "test",
            "count": len(test),
            "counts": {"deleted_since_snapshot": 0},
            "misclassified": [
                {"id": i, "true": by_id[i]["label"], "predicted": p, "confidence": 0.7}
                for i, p in wrong.items()
            ],
        },
        onnx_file="x.onnx",
        head_file="x.pt",
        **fields,
    )


@pytest.fixture
def images(project):
    """12 ants and 12 bees: 8 train, 4 test each (ids in that order)."""
    made = {}
    for label in ("ants", "bees"):
        made[label] = [
            ImageFactory(project=project, label=label, split=split)
            for split in ["train"] * 8 + ["test"] * 4
        ]
    return made


def _rows(images, relabel=None, move=None, drop=()):
    rows = []
    for label, items in images.items():
        for image in items:
            if image.id in drop:
                continue
            rows.append(
                {
                    "id": image.id,
                    "label": (relabel or {}).get(image.id, label),
                    "split": (move or {}).get(image.id, image.split),
                }
            )
    return rows


def test_data_diff(auth_client, project, images):
    ants, bees = images["ants"], images["bees"]
    rows_a = _rows(images, drop={bees[0].id})
    rows_b = _rows(
        images, relabel={ants[1].id: "bees"}, move={ants[2].id: "val"}, drop={ants[0].id}
    )
    params = {"mode": "finetune", "backbone": "efficientnet_lite0", "finetune.epochs": 10}
    a = _version(project, 1, rows_a, {}, parameters=params)
    b = _version(project, 2, rows_b, {}, parameters={**params, "finetune.epochs": 5})

    response = auth_client.get(f"/api/v1/models/{a.pk}/data-diff/{b.pk}/")
    assert response.status_code == 200, response.content
    diff = response.json()
    assert diff["added"] == [bees[0].id] and diff["removed"] == [ants[0].id]
    assert diff["relabelled"] == [{"image": ants[1].id, "from": "ants", "to": "bees"}]
    assert diff["moved"] == [{"image": ants[2].id, "from": "train", "to": "val"}]
    assert diff["counts"] == {"added": 1, "removed": 1, "relabelled": 1, "moved": 1}
    assert diff["parameters"] == [{"name": "finetune.epochs", "a": 10, "b": 5}]
    assert diff["parameters_recorded"] and not diff["same_data"]
    assert diff["a"]["data_hash"] == ml.snapshot_hash(rows_a) != diff["b"]["data_hash"]
    assert diff["a"]["training_hash"] != diff["b"]["training_hash"]

    same = _version(project, 3, rows_a, {}, parameters=params)
    again = auth_client.get(f"/api/v1/models/{a.pk}/data-diff/{same.pk}/").json()
    assert again["same_data"] and again["parameters"] == []
    assert again["a"]["training_hash"] == again["b"]["training_hash"]


def test_compare(auth_client, project, images):
    ants, bees = images["ants"], images["bees"]
    test_ants, test_bees = ants[8:], bees[8:]
    rows = _rows(images)
    # a: wrong on 3 test ants and 1 test bee; b: fixes 3 of those, breaks another bee.
    wrong_a = {test_ants[0].id: "bees", test_ants[1].id: "bees", test_ants[2].id: "bees"}
    wrong_a[test_bees[0].id] = "ants"
    wrong_b = {test_ants[2].id: "bees", test_bees[1].id: "ants"}
    a = _version(project, 1, rows, wrong_a)
    b = _version(project, 2, rows, wrong_b)

    response = auth_client.get(f"/api/v1/models/{a.pk}/compare/{b.pk}/")
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["images"] == 8 and result["labels"] == ["ants", "bees"]
    assert result["fixed"] == sorted([test_ants[0].id, test_ants[1].id, test_bees[0].id])
    assert result["broken"] == [test_bees[1].id]
    assert result["a"]["accuracy"] == pytest.approx(0.5)
    assert result["b"]["accuracy"] == pytest.approx(0.75)
    assert result["a"]["number"] == 1 and result["b"]["evaluated_on"] == "test"
    assert result["a"]["confusion_matrix"] == [[1, 3], [1, 3]]
    assert result["b"]["confusion_matrix"] == [[3, 1], [1, 3]]
    ants_row = next(r for r in result["per_label"] if r["label"] == "ants")
    assert ants_row["a_recall"] == pytest.approx(0.25)
    assert ants_row["b_recall"] == pytest.approx(0.75)
    assert ants_row["delta"] == pytest.approx(0.5)
    assert ants_row["low"] < ants_row["delta"] < ants_row["high"]
    assert result["mcnemar_p"] == pytest.approx(ml.mcnemar_exact(1, 3), abs=1e-6)

    # The other way round: fixed and broken swap, deltas change sign.
    back = auth_client.get(f"/api/v1/models/{b.pk}/compare/{a.pk}/").json()
    assert back["fixed"] == result["broken"] and back["broken"] == result["fixed"]
    assert back["mcnemar_p"] == result["mcnemar_p"]


def test_compare_only_counts_shared_images_with_the_same_label(auth_client, project, images):
    ants, bees = images["ants"], images["bees"]
    a = _version(project, 1, _rows(images, drop={ants[8].id}), {})
    b = _version(project, 2, _rows(images, relabel={bees[8].id: "ants"}), {bees[8].id: "bees"})
    result = auth_client.get(f"/api/v1/models/{a.pk}/compare/{b.pk}/").json()
    # 8 test images; ants[8] only in b, bees[8] relabelled in between.
    assert result["images"] == 6 and result["relabelled_excluded"] == 1
    assert ants[8].id not in result["fixed"] + result["broken"]


def test_quick_versions_leave_out_images_they_could_not_embed(auth_client, project, images):
    from apps.training.models import Embedding

    rows = _rows(images)
    test_ids = [row["id"] for row in rows if row["split"] == "test"]
    for image_id in test_ids[1:]:  # the first test image's file could not be read
        Embedding.objects.create(image_id=image_id, backbone="efficientnet_lite0", vector=b"")
    a = _version(project, 1, rows, {}, mode="quick")
    b = _version(project, 2, rows, {test_ids[1]: "bees"}, mode="quick")
    result = auth_client.get(f"/api/v1/models/{a.pk}/compare/{b.pk}/").json()
    assert result["images"] == 7 and result["broken"] == [test_ids[1]]


def test_compare_refusals(auth_client, other_client, user, project, images):
    rows = _rows(images)
    a = _version(project, 1, rows, {})
    elsewhere = ProjectFactory(owner=user, labels=["ants", "bees"])
    foreign = _version(elsewhere, 1, rows, {})
    for kind in ("compare", "data-diff"):
        response = auth_client.get(f"/api/v1/models/{a.pk}/{kind}/{foreign.pk}/")
        assert response.status_code == 400
        assert "different projects" in response.json()["error"]["message"]
        assert other_client.get(f"/api/v1/models/{a.pk}/{kind}/{a.pk}/").status_code == 404

    # Each trained on half the test images: none in common.
    first_half = {i.id for label in images.values() for i in label[8:10]}
    second_half = {i.id for label in images.values() for i in label[10:12]}
    a = _version(project, 4, _rows(images, drop=second_half), {})
    b = _version(project, 2, _rows(images, drop=first_half), {})
    response = auth_client.get(f"/api/v1/models/{a.pk}/compare/{b.pk}/")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_shared_images" and "share no test images" in error["message"]

    c = _version(project, 3, rows, {})
    c.metrics = {"evaluated_on": "cross-validation", "misclassified": []}
    c.save()
    response = auth_client.get(f"/api/v1/models/{a.pk}/compare/{c.pk}/")
    assert response.status_code == 400 and "cross-validation" in response.json()["error"]["message"]


def test_trained_versions_record_their_data_and_parameters_and_compare(
    project, hymenoptera, user, auth_client, django_capture_on_commit_callbacks
):
    """Two quick versions trained for real, with a relabel in between: each records its
    data hash and parameters, and the model diff agrees with each version's own metrics."""
    add_real_images(project, hymenoptera, split_counts={"train": 6, "test": 4})

    def train() -> ModelVersion:
        with django_capture_on_commit_callbacks(execute=True):
            job = training_job_create(project=project, created_by=user)
        job.refresh_from_db()
        assert job.status == TrainingJob.Status.SUCCEEDED, (job.error, job.log)
        return job.model_version

    first = train()
    assert first.data_hash == ml.snapshot_hash(first.snapshot)
    assert first.parameters["mode"] == "quick"
    assert first.parameters["quick.l2"] == first.metrics["regularisation"]["l2"]
    assert first.parameters["quick.l2_grid"] == list(ml.L2_GRID)
    train_image = Image.objects.filter(project=project, split="train", label__name="ants").first()
    image_update(image=train_image, label="bees", actor=user)
    second = train()

    diff = auth_client.get(f"/api/v1/models/{first.pk}/data-diff/{second.pk}/").json()
    assert diff["relabelled"] == [{"image": train_image.id, "from": "ants", "to": "bees"}]
    assert diff["added"] == diff["removed"] == diff["moved"] == []

    response = auth_client.get(f"/api/v1/models/{first.pk}/compare/{second.pk}/")
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["images"] == 8 == first.metrics["count"]
    assert result["a"]["accuracy"] == pytest.approx(first.metrics["accuracy"], abs=1e-4)
    assert result["b"]["accuracy"] == pytest.approx(second.metrics["accuracy"], abs=1e-4)
    wrong_a = {m["id"] for m in first.metrics["misclassified"]}
    wrong_b = {m["id"] for m in second.metrics["misclassified"]}
    assert set(result["fixed"]) == wrong_a - wrong_b
    assert set(result["broken"]) == wrong_b - wrong_a
