"""Computing a project's data health report: one ``HealthJob`` on the job machine.

``health_job_run`` claims the job (only a queued one starts), embeds whatever images still
have no cached embedding for the backbone (fenced heartbeats between batches), analyses
outside any transaction with ``apps.ml`` (numpy, a few L-BFGS fits, cleanlab), and records
the report in one fenced write. Running it twice is harmless: the second claim finds the
job finished and does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.utils import timezone

from apps import ml
from apps.core.jobs import job_claim, job_finish, job_heartbeat
from apps.datasets.models import Image
from apps.training.embeddings import embeddings_compute
from apps.training.health.evaluation import learning_curve_compute, out_of_sample_compute
from apps.training.health.neighbours import neighbours_attach
from apps.training.models import FROZEN_FEATURE_MODES, HealthJob, ModelVersion
from apps.training.selectors import embedding_vectors

logger = logging.getLogger(__name__)

HEALTH_LOST_ERROR = (
    "The worker computing the data health report stopped unexpectedly, and the job was "
    "already retried. Start it again from the Data health page."
)
HEALTH_FAILED_ERROR = "The data health report could not be computed. Try again."
# Folds of the cross-validation (quick mode's head refitted this many times, warm-started).
CV_FOLDS = 5
# At most this many near-duplicate pairs are kept (a folder copied twice would otherwise
# store every one of its N pairs for nothing: the first screens already tell the story).
MAX_DUPLICATE_PAIRS = 20_000


class _Lost(Exception):
    """This attempt no longer holds the job (reaped and handed to another)."""


def health_job_run(*, job_id: int) -> HealthJob | None:
    """Compute one report (the Celery task's body). Returns the job as it ended, or None if
    it was not queued (a duplicate message, or already done)."""
    job = job_claim(HealthJob, job_id, related=("project",))
    if job is None:
        logger.info("health job %s is not queued; nothing to do", job_id)
        return None

    def beat() -> None:
        if not job_heartbeat(job):
            raise _Lost()

    try:
        version = ModelVersion.objects.filter(project_id=job.project_id).order_by("-number").first()
        report = health_compute(project=job.project, version=version, beat=beat)
    except _Lost:
        logger.warning("health job %s was taken from this attempt; stopping", job.pk)
        return job
    except Exception:
        logger.exception("health job %s failed", job.pk)
        job_finish(job, status=HealthJob.Status.FAILED, error=HEALTH_FAILED_ERROR)
        return job
    if job_finish(
        job,
        status=HealthJob.Status.SUCCEEDED,
        model_version=version,
        computed_at=timezone.now(),
        **report,
    ):
        # Only the newest report is ever read: older finished ones go.
        HealthJob.objects.filter(
            project_id=job.project_id, id__lt=job.pk, status__in=HealthJob.FINISHED
        ).delete()
    return job


def _rows(project_id: int) -> list[tuple[int, int | None, str, str]]:
    """(image id, label id, label name, split) of every image of the project."""
    return list(
        Image.objects.filter(project_id=project_id)
        .order_by("id")
        .values_list("id", "label_id", "label__name", "split")
    )


def health_compute(*, project: Any, version: ModelVersion | None, beat: Any) -> dict[str, Any]:
    """The report's fields for the project as it is now (current labels and splits), on the
    embeddings of ``version``'s backbone (the project's when there is no version)."""
    backbone = version.backbone if version is not None else project.backbone
    rows = _rows(project.pk)
    ids = [row[0] for row in rows]
    embeddings_compute(image_ids=ids, backbone=backbone, on_batch=lambda done, total: beat())
    beat()
    vectors = embedding_vectors(image_ids=ids, backbone=backbone)
    rows = [row for row in rows if row[0] in vectors]  # unreadable files have none
    report: dict[str, Any] = {
        "cv_accuracy": None,
        "label_issues": [],
        "near_duplicates": [],
        "outliers": [],
        "predictions": [],
        "out_of_sample": None,
        "learning_curve": {"images": 0, "points": [], "fit": None, "advice": []},
    }
    if not rows:
        return report
    features = np.stack([vectors[row[0]] for row in rows]).astype(np.float32, copy=False)
    report["near_duplicates"] = _duplicates(rows, features)
    beat()
    labelled = [i for i, row in enumerate(rows) if row[1] is not None]
    names = sorted({rows[i][2] for i in labelled})
    report["learning_curve"]["images"] = len(labelled)
    if len(names) >= 2:
        index = {name: k for k, name in enumerate(names)}
        x = features[labelled]
        y = np.asarray([index[rows[i][2]] for i in labelled], dtype=np.int64)
        with ml.torch_threads(1):
            probs = ml.cross_validated_probabilities(x, y, num_classes=len(names), folds=CV_FOLDS)
        beat()
        interval = ml.accuracy_interval(int((probs.argmax(axis=1) == y).sum()), len(y))
        report["cv_accuracy"] = {
            "value": round(interval.value, 5),
            "low": round(interval.low, 5),
            "high": round(interval.high, 5),
            "images": interval.images,
        }
        report["label_issues"] = [
            {
                "image": rows[labelled[issue.index]][0],
                "label": names[issue.label],
                "suggested": names[issue.suggested],
                "score": issue.score,
            }
            for issue in ml.label_issues(y, probs)
        ]
        beat()
        report["out_of_sample"] = out_of_sample_compute(
            rows=[(rows[i][0], rows[i][2], rows[i][3]) for i in labelled],
            names=names,
            features=x,
            probs=probs,
            project_id=project.pk,
            backbone=backbone,
        )
        report["learning_curve"] = learning_curve_compute(
            features=x, labels=y, names=names, folds=CV_FOLDS
        )
        beat()
    if len(labelled) >= 2:
        report["outliers"] = _outliers([rows[i][0] for i in labelled], features[labelled])
    if labelled:
        neighbours_attach(
            rows=rows,
            features=features,
            label_issues=report["label_issues"],
            outliers=report["outliers"],
            near_duplicates=report["near_duplicates"],
        )
        beat()
    if version is not None:
        unlabelled = [i for i, row in enumerate(rows) if row[1] is None]
        report["predictions"] = _predictions(
            version, [rows[i][0] for i in unlabelled], features[unlabelled]
        )
    return report


def _duplicates(rows: list[tuple[int, int | None, str, str]], features: np.ndarray) -> list:
    pairs: list[dict[str, Any]] = []
    for pair in ml.near_duplicates(features):
        a, b = rows[pair.first], rows[pair.second]
        # Leakage: one image is tested on, its twin trained (or validated) on.
        cross = (a[3] == "test") != (b[3] == "test")
        pairs.append({"images": [a[0], b[0]], "similarity": pair.similarity, "cross_split": cross})
    pairs.sort(key=lambda pair: (not pair["cross_split"], -pair["similarity"]))
    return pairs[:MAX_DUPLICATE_PAIRS]


def _outliers(ids: list[int], features: np.ndarray) -> list[dict[str, Any]]:
    scorer = ml.OutlierScorer(features)
    # Each labelled image against the others (leave one out), on the threshold the scorer
    # calibrated the same way.
    scores = scorer.reference_outlier_scores()
    flagged = [
        {"image": ids[i], "score": round(float(scores[i]), 5)}
        for i in np.flatnonzero(scores > scorer.threshold)
    ]
    flagged.sort(key=lambda item: -item["score"])
    return flagged


def _predictions(newest: ModelVersion, ids: list[int], features: np.ndarray) -> list:
    """[[image, label, confidence, margin]] of the unlabelled images ``ids`` (embeddings
    ``features``), by the version's head.

    The head is quick mode's linear layer on the frozen embeddings; a fine-tuned version's
    head sits on features of its own network, so its guesses on frozen embeddings mean
    nothing: the newest quick version of the same backbone answers instead (none: no
    guesses)."""
    version: ModelVersion | None = newest
    if newest.mode not in FROZEN_FEATURE_MODES or not newest.head_file:
        version = (
            ModelVersion.objects.filter(
                project_id=newest.project_id,
                mode__in=FROZEN_FEATURE_MODES,
                backbone=newest.backbone,
            )
            .exclude(head_file="")
            .order_by("-number")
            .first()
        )
    if version is None or not ids or not version.head_file.name:
        return []
    with default_storage.open(version.head_file.name, "rb") as handle:
        head = ml.load_state(handle.read())
    probs = ml.head_probabilities(head, features)
    top2 = np.sort(probs, axis=1)[:, -2:]
    best = probs.argmax(axis=1)
    labels = list(version.labels)
    return [
        [
            image_id,
            labels[int(best[k])],
            round(float(top2[k, 1]), 5),
            round(float(top2[k, 1] - top2[k, 0]), 5),
        ]
        for k, image_id in enumerate(ids)
    ]
