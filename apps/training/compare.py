"""Reads that compare two model versions of a project: the data diff (images added,
removed, relabelled, moved between splits, and the training parameters that changed) and
the model diff (both versions' answers on the held-out images they share).

Every version's metrics keep the held-out images it got wrong (``misclassified``: id,
true and predicted label), and its snapshot says which images were held out (the runner's
``snapshot_partition``: the test split, or validation when there is no test image); an
image held out and not misclassified was answered right. So both versions' answer for
every shared held-out image is known without running either model.
"""

from __future__ import annotations

from typing import Any

from apps import ml
from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image
from apps.training.models import ModelVersion, TrainingJob
from apps.training.runner import CROSS_VALIDATION, snapshot_partition
from apps.training.selectors import ID_CHUNK, embedding_ids

# Each list of a data diff shows at most this many entries (its count is always whole).
DIFF_LIST_LIMIT = 1000


def _same_project(a: ModelVersion, b: ModelVersion) -> None:
    if a.project_id != b.project_id:
        raise ApplicationError(
            f"Model v{a.number} and model v{b.number} belong to different projects. Compare "
            "two versions of the same project.",
            code="invalid_model_version",
        )


def _identity(version: ModelVersion) -> dict[str, Any]:
    parameters = dict(version.parameters or {})
    data_hash = version.data_hash or ml.snapshot_hash(version.snapshot or [])
    return {
        "id": version.pk,
        "number": version.number,
        "mode": version.mode,
        "backbone": version.backbone,
        "created_at": version.created_at,
        "images": len(version.snapshot or []),
        "data_hash": data_hash,
        # None when the parameters were not recorded (versions trained before they were).
        "training_hash": ml.training_hash(data_hash, parameters) if parameters else None,
        "parameters": parameters,
    }


def model_version_data_diff(*, a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """What changed in the data and the training from version ``a`` to version ``b``."""
    _same_project(a, b)
    diff = ml.snapshot_diff(a.snapshot or [], b.snapshot or [])
    first, second = _identity(a), _identity(b)
    recorded = bool(first["parameters"]) and bool(second["parameters"])
    return {
        "a": first,
        "b": second,
        "same_data": first["data_hash"] == second["data_hash"],
        "counts": {name: len(items) for name, items in diff.items()},
        **{name: items[:DIFF_LIST_LIMIT] for name, items in diff.items()},
        # Compared only when both versions recorded theirs; the mode and backbone always.
        "parameters_recorded": recorded,
        "parameters": ml.parameters_diff(
            first["parameters"] if recorded else {"mode": a.mode, "backbone": a.backbone},
            second["parameters"] if recorded else {"mode": b.mode, "backbone": b.backbone},
        ),
    }


def _existing(image_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(image_ids), ID_CHUNK):
        found.update(
            Image.objects.filter(id__in=image_ids[start : start + ID_CHUNK]).values_list(
                "id", flat=True
            )
        )
    return found


def held_out_answers(version: ModelVersion) -> dict[int, tuple[str, str]]:
    """``{image id: (true label, predicted label)}`` for every held-out image the version
    was evaluated on that still exists."""
    metrics = version.metrics or {}
    if "misclassified" not in metrics:
        raise ApplicationError(
            f"Model v{version.number} did not keep its answers on the test images, so it "
            "cannot be compared. Train it again to compare it.",
            code="invalid_model_version",
        )
    snapshot = list(version.snapshot or [])
    existing = _existing([int(row["id"]) for row in snapshot])
    # The runner partitioned the rows whose image existed when it trained: the whole
    # snapshot unless images were deleted between the job's start and its run.
    deleted_before = int((metrics.get("counts") or {}).get("deleted_since_snapshot") or 0)
    rows = [row for row in snapshot if row["id"] in existing] if deleted_before else snapshot
    evaluated_on = str(metrics.get("evaluated_on") or "")
    if evaluated_on == CROSS_VALIDATION:
        raise ApplicationError(
            f"Model v{version.number} was measured by cross-validation (the project had no "
            "test images when it was trained), not on test images, so it cannot be compared "
            "image by image. Train it again now that the project has test images.",
            code="no_shared_images",
        )
    labels = list(version.labels) or sorted({row["label"] for row in snapshot})
    # As the runner partitioned it: fine-tuning (and quick mode before it chose its penalty
    # by cross-validation) set validation images aside, which decides the held-out set when
    # there is no test image.
    validation = version.mode == TrainingJob.Mode.FINETUNE or evaluated_on.startswith("val")
    try:
        part = snapshot_partition(rows, labels, validation=validation)
    except KeyError as exc:  # a snapshot label the version does not know: a damaged row
        raise ApplicationError(
            f"Model v{version.number}'s snapshot does not match its labels.",
            code="invalid_model_version",
        ) from exc
    held = [image for image, _ in part.held_out if image in existing]
    if version.mode != TrainingJob.Mode.FINETUNE:
        # A frozen-features model (fast or accurate mode) was evaluated on the images it could
        # embed (unreadable files had none).
        embedded = embedding_ids(image_ids=held, backbone=version.backbone)
        held = [image for image in held if image in embedded]
    truth = {int(row["id"]): row["label"] for row in rows}
    wrong = {int(row["id"]): row["predicted"] for row in metrics["misclassified"]}
    return {image: (truth[image], wrong.get(image, truth[image])) for image in held}


def model_version_compare(*, a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """Version ``a`` against version ``b`` on the held-out images both were tested on with
    the same label (``ml.compare_predictions``), with the versions' identities."""
    _same_project(a, b)
    answers_a, answers_b = held_out_answers(a), held_out_answers(b)
    shared = sorted(answers_a.keys() & answers_b.keys())
    # An image relabelled between the two versions has no single truth to score both by.
    same_truth = [i for i in shared if answers_a[i][0] == answers_b[i][0]]
    if not same_truth:
        raise ApplicationError(
            f"Model v{a.number} and model v{b.number} share no test images, so their answers "
            "cannot be compared on the same images. Images keep their split once assigned: "
            "train both on data that has test images.",
            code="no_shared_images",
            extra={"a_images": len(answers_a), "b_images": len(answers_b)},
        )
    result = ml.compare_predictions(
        same_truth,
        [answers_a[i][0] for i in same_truth],
        [answers_a[i][1] for i in same_truth],
        [answers_b[i][1] for i in same_truth],
    )
    for key, version in (("a", a), ("b", b)):
        result[key] = {
            "id": version.pk,
            "number": version.number,
            "mode": version.mode,
            "evaluated_on": (version.metrics or {}).get("evaluated_on", ""),
            "held_out": len(answers_a if key == "a" else answers_b),
            **result[key],
        }
    result["relabelled_excluded"] = len(shared) - len(same_truth)
    return result
