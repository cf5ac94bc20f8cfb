"""Reads that look at a project's data through its cached frozen-backbone embeddings (issue
14): the embedding map, clusters of unlabelled images, out-of-sample predictions (the
confusion matrix and its cells, accuracy per metadata slice) and the learning curve.

Nothing here runs torch (the web process never imports it). The map's PCA and the clusters
are numpy/scikit-learn, computed on request and kept in the cache under a signature of what
they were computed from. The out-of-sample predictions and the learning curve come from the
newest data health report (``apps.training.health``, computed after every training):
until one exists they are empty and ``status`` says "none" or "computing". Images without a
cached embedding yet (still being embedded) are left out of the map and counted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

import numpy as np
from django.core.cache import cache

from apps import ml
from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image
from apps.projects.models import Project
from apps.training.health.selectors import health_insights_get, health_report_get
from apps.training.models import Embedding, ModelVersion
from apps.training.selectors import embedding_vectors

CACHE_SECONDS = 3600
SPLITS = ("train", "val", "test")
CONFUSION_SPLITS = (*SPLITS, "all")


def _digest(*parts: Any) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:20]


def _newest_version(project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project).order_by("-number").first()


def _backbone(project: Project) -> str:
    version = _newest_version(project)
    return version.backbone if version is not None else project.backbone


def _rows(project: Project) -> list[tuple[int, str | None, str]]:
    """(image id, label name, split) of every image, by id."""
    return list(
        Image.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "label__name", "split")
    )


def _embedded_ids(project: Project, backbone: str) -> set[int]:
    return set(
        Embedding.objects.filter(image__project=project, backbone=backbone).values_list(
            "image_id", flat=True
        )
    )


def _features(ids: list[int], backbone: str) -> np.ndarray:
    vectors = embedding_vectors(image_ids=ids, backbone=backbone)
    return np.stack([vectors[i] for i in ids]).astype(np.float32, copy=False)


def _status(total: int, embedded: int) -> str:
    if embedded == 0:
        return "none"
    return "ready" if embedded == total else "partial"


# --- Map and clusters ----------------------------------------------------------------------


def _reduced(project: Project, backbone: str, ids: list[int]) -> dict[str, Any]:
    """{"ids", "coords" [N, 2], "reduced" [N, d]} of the embedded images ``ids`` (cached)."""
    key = f"insights:map:{project.pk}:{backbone}:{_digest(ids)}"
    found = cache.get(key)
    if found is None:
        reduced = ml.reduce_embeddings(_features(ids, backbone)) if ids else np.zeros((0, 2))
        found = {
            "ids": ids,
            "coords": np.round(ml.map_coordinates(reduced), 4),
            "reduced": reduced.astype(np.float32),
        }
        cache.set(key, found, CACHE_SECONDS)
    return found


def clusters_get(*, project: Project) -> dict[str, Any]:
    """Unlabelled images grouped by look (k-means on the embeddings), largest group first:
    ``{"status", "missing", "clusters": [{"id", "size", "images", "sample"}]}``."""
    backbone = _backbone(project)
    rows = _rows(project)
    embedded = _embedded_ids(project, backbone)
    unlabelled = [row[0] for row in rows if row[1] is None]
    ids = [i for i in unlabelled if i in embedded]
    answer: dict[str, Any] = {
        "status": _status(len(unlabelled), len(ids)) if unlabelled else "ready",
        "missing": len(unlabelled) - len(ids),
        "clusters": [],
    }
    if not ids:
        return answer
    key = f"insights:clusters:{project.pk}:{backbone}:{_digest(ids)}"
    clusters = cache.get(key)
    if clusters is None:
        found = ml.cluster_embeddings(_features(ids, backbone))
        members: dict[int, list[int]] = defaultdict(list)
        for row, cluster in enumerate(found.assignment.tolist()):
            members[cluster].append(ids[row])
        clusters = [
            {
                "id": cluster,
                "size": len(members[cluster]),
                "images": members[cluster],
                "sample": [ids[row] for row in found.samples[cluster]],
            }
            for cluster in range(found.k)
        ]
        cache.set(key, clusters, CACHE_SECONDS)
    answer["clusters"] = clusters
    return answer


def _issues(project: Project) -> dict[int, str]:
    """image id -> the first issue the newest health report has about it."""
    report = health_report_get(project=project)
    issues: dict[int, str] = {}
    for item in report["label_issues"]:
        issues.setdefault(item["image"], "label")
    for item in report["outliers"]:
        issues.setdefault(item["image"], "outlier")
    for pair in report["near_duplicates"]:
        for image in pair["images"]:
            issues.setdefault(image, "duplicate")
    return issues


def map_get(*, project: Project) -> dict[str, Any]:
    """Every embedded image on a 2-D map (PCA of its embedding, in [-1, 1]) with its label,
    split, out-of-sample (labelled) or model's (unlabelled) prediction and health issue.
    Before any model exists, the unlabelled images' clusters come along."""
    backbone = _backbone(project)
    rows = _rows(project)
    embedded = _embedded_ids(project, backbone)
    ids = [row[0] for row in rows if row[0] in embedded]
    answer: dict[str, Any] = {
        "status": _status(len(rows), len(ids)),
        "missing": len(rows) - len(ids),
        "points": [],
        "clusters": None,
    }
    if not ids:
        return answer
    projected = _reduced(project, backbone, ids)
    oos = out_of_sample_get(project=project)
    predicted = {image: (row[1], row[2]) for image, row in oos["images"].items()}
    # The model's guesses for the images that were unlabelled when the report was made.
    predicted.update({row[0]: (row[1], row[2]) for row in oos["guesses"]})
    issues = _issues(project)
    cluster_of: dict[int, int] = {}
    if _newest_version(project) is None:
        clusters = clusters_get(project=project)["clusters"]
        answer["clusters"] = [
            {"id": c["id"], "size": c["size"], "sample": c["sample"]} for c in clusters
        ]
        cluster_of = {image: c["id"] for c in clusters for image in c["images"]}
    by_id = {row[0]: row for row in rows}
    points = []
    for image, (x, y) in zip(projected["ids"], projected["coords"].tolist(), strict=True):
        _, label, split = by_id[image]
        point: dict[str, Any] = {"image": image, "x": x, "y": y, "label": label, "split": split}
        if image in predicted:
            point["predicted"], point["confidence"] = predicted[image]
        if image in issues:
            point["issue"] = issues[image]
        if image in cluster_of:
            point["cluster"] = cluster_of[image]
        points.append(point)
    answer["points"] = points
    return answer


# --- Out-of-sample predictions ----------------------------------------------------------------


def out_of_sample_get(*, project: Project) -> dict[str, Any]:
    """``{"status", "labels": [names], "images": {id: (true, predicted, confidence, split)},
    "sources": {split: "cross_validation" | "model"}, "model_version", "guesses"}`` from the
    newest health report: one out-of-sample prediction per image labelled then, left out
    once the image is deleted or relabelled (the next report has it again); ``guesses`` are
    the report's [[image, label, confidence, margin]] for the images unlabelled then. Empty
    before any report, or with fewer than two labels."""
    status, report = health_insights_get(project=project)
    answer: dict[str, Any] = {
        "status": status,
        "labels": [],
        "images": {},
        "sources": {},
        "model_version": None,
        "guesses": [],
    }
    if report is None:
        return answer
    answer["guesses"] = report["predictions"] or []
    stored = report["out_of_sample"]
    if not stored:
        return answer
    labels_now = dict(
        Image.objects.filter(project=project, label__isnull=False).values_list("id", "label__name")
    )
    answer.update(
        labels=list(stored["labels"]),
        sources=dict(stored["sources"]),
        model_version=stored["model_version"],
        images={
            image: (label, guess, confidence, split)
            for image, label, guess, confidence, split in stored["images"]
            if labels_now.get(image) == label
        },
    )
    return answer


def _split_choice(split: str | None) -> str:
    split = split or "all"
    if split not in CONFUSION_SPLITS:
        raise ApplicationError(
            "The split must be train, val, test or all.",
            code="invalid_split",
            extra={"fields": {"split": ["Use train, val, test or all."]}},
        )
    return split


def confusion_get(
    *, project: Project, true: str | None = None, predicted: str | None = None, split: str = "all"
) -> dict[str, Any]:
    """The confusion matrix of the out-of-sample predictions for each split and all of them
    (rows: true label, columns: predicted, in the order of ``labels``), and the images of one
    cell (``true`` and ``predicted``, diagonal cells too; both or neither) most confident
    first."""
    split = _split_choice(split)
    if (true is None) != (predicted is None):
        raise ApplicationError(
            'Give both "true" and "predicted" to list the images of a cell, or neither.',
            code="invalid_cell",
        )
    oos = out_of_sample_get(project=project)
    names: list[str] = oos["labels"]
    index = {name: k for k, name in enumerate(names)}
    matrices = {key: np.zeros((len(names), len(names)), dtype=np.int64) for key in CONFUSION_SPLITS}
    for label, guess, _, image_split in oos["images"].values():
        for key in (image_split, "all"):
            if key in matrices:
                matrices[key][index[label], index[guess]] += 1
    cell: list[dict[str, Any]] = []
    if true is not None:
        for name, field in ((true, "true"), (predicted, "predicted")):
            if name not in index:
                raise ApplicationError(
                    f"No label {name!r} among the predictions of this project.",
                    code="invalid_label",
                    extra={"fields": {field: ["Use a label of this project."]}},
                )
        cell = [
            {"image": image, "label": label, "predicted": guess, "confidence": conf, "split": s}
            for image, (label, guess, conf, s) in oos["images"].items()
            if label == true and guess == predicted and (split == "all" or s == split)
        ]
        cell.sort(key=lambda item: (-item["confidence"], item["image"]))
    answer: dict[str, Any] = {
        "status": oos["status"],
        "labels": names,
        "matrices": {key: matrix.tolist() for key, matrix in matrices.items()},
        "model_version": oos["model_version"],
        "images": cell,
    }
    if oos["sources"]:  # none without predictions (the field is left out)
        answer["sources"] = oos["sources"]
    return answer


def slices_get(*, project: Project, key: str | None) -> dict[str, Any]:
    """Out-of-sample accuracy per value of the metadata column ``key`` (with its 95 %
    interval and image count), worst first; and the metadata keys the project has."""
    metadata = dict(
        Image.objects.filter(project=project, label__isnull=False).values_list("id", "metadata")
    )
    keys = sorted({k for meta in metadata.values() for k in (meta or {})})
    status, _ = health_insights_get(project=project)
    answer: dict[str, Any] = {"status": status, "key": key, "keys": keys, "slices": []}
    if not key:
        return answer
    if key not in keys:
        raise ApplicationError(
            f"No image of this project has the metadata column {key!r}.",
            code="invalid_key",
            extra={"fields": {"key": ["Use one of the project's metadata columns."]}},
        )
    oos = out_of_sample_get(project=project)
    tally: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for image, (label, guess, _, _) in oos["images"].items():
        value = (metadata.get(image) or {}).get(key)
        tally[None if value in (None, "") else str(value)][0] += int(label == guess)
        tally[None if value in (None, "") else str(value)][1] += 1
    slices = []
    for value, (correct, total) in tally.items():
        interval = ml.accuracy_interval(correct, total)
        slices.append(
            {
                "value": value,
                "accuracy": round(interval.value, 4),
                "low": round(interval.low, 4),
                "high": round(interval.high, 4),
                "images": total,
            }
        )
    slices.sort(key=lambda s: (s["accuracy"], -s["images"], str(s["value"])))
    answer["slices"] = slices
    return answer


# --- Learning curve ------------------------------------------------------------------------


def learning_curve_get(*, project: Project) -> dict[str, Any]:
    """The newest health report's learning curve: cross-validated accuracy against images
    per class on 25/50/75/100 % of the labelled images (stratified), the power law fitted
    to it, and per label how many more images should add how many points. Before any report
    ``images`` counts the labelled images there are now, with no points."""
    status, report = health_insights_get(project=project)
    stored = report["learning_curve"] if report is not None else None
    if not stored:
        images = Image.objects.filter(project=project, label__isnull=False).count()
        stored = {"images": images, "points": [], "fit": None, "advice": []}
    return {"status": status, **stored}
