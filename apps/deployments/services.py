"""Writes for deployments: deploying, switching and stopping, API keys, predictions and the
feedback that turns a logged prediction into a labeled training image."""

from __future__ import annotations

import logging
import secrets
import string
import time
import uuid
from typing import Any, cast

import numpy as np
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps import ml
from apps.core import metrics
from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_deployment_changed
from apps.core.storage import storage_prefix_delete_later
from apps.datasets.ingest import image_ingest
from apps.datasets.models import Image
from apps.deployments.inputs import PredictionInputs, max_image_bytes
from apps.deployments.models import (
    Deployment,
    DeploymentApiKey,
    DeploymentChange,
    PredictionLog,
)
from apps.deployments.prediction_log import LogEntry, image_storage_prefix, writer
from apps.deployments.serving import (
    LiveDeployment,
    generation_bump,
    generation_publish,
    rate_limit_clean,
)
from apps.deployments.serving.decoding import decode_for_model
from apps.deployments.serving.registry import canary_route, registry
from apps.deployments.shadow_worker import shadow_submit
from apps.labeling.models import LabelEvent
from apps.projects.models import Label, Project
from apps.projects.selectors import label_find_by_name
from apps.training.models import ModelVersion

logger = logging.getLogger(__name__)

UNSET: Any = object()
SLUG_ALPHABET = string.ascii_lowercase + string.digits
API_KEY_NAME_MAX = DeploymentApiKey._meta.get_field("name").max_length or 50


# --- Deployments ------------------------------------------------------------------------


def _publish_change(*, strict: bool = True) -> None:
    """Inside a write's transaction: every process forgets its cached deployments and keys
    now, and again after the commit (see ``serving.registry``). ``strict``: raises
    ``ApplicationError`` (503, the transaction rolls back) when the change cannot be
    published; not for a new deployment or key, which no process can have cached."""
    if strict:
        generation_publish()
    else:
        registry.forget()
    transaction.on_commit(generation_bump)


def _model_version_of(*, project: Project, model_version_id: Any) -> ModelVersion:
    """The project's model version ``model_version_id``, ready to serve, or a 400."""
    try:
        version = ModelVersion.objects.get(id=int(model_version_id), project=project)
    except (ModelVersion.DoesNotExist, TypeError, ValueError) as exc:
        raise ApplicationError(
            f"{model_version_id!r} is not a model version of this project.",
            code="invalid_model_version",
        ) from exc
    if not version.onnx_file.name:
        raise ApplicationError(
            f"Model version {version.number} has no exported model to serve.",
            code="invalid_model_version",
        )
    return version


def _precision_clean(value: Any) -> str:
    if value not in Deployment.Precision.values:
        raise ApplicationError(
            'The precision must be "fp32" (the model as trained) or "int8" (its quantized '
            "copy: smaller and faster).",
            code="invalid_precision",
        )
    return str(value)


def _precision_check(version: ModelVersion, precision: str) -> None:
    """A 400 when ``version`` cannot serve in ``precision`` (no int8 file)."""
    if precision != Deployment.Precision.INT8 or version.int8_onnx_file.name:
        return
    int8 = (version.metrics or {}).get("int8") or {}
    if int8.get("status") == "compressing":
        raise ApplicationError(
            f"The int8 copy of model version {version.number} is still being made (it takes "
            "up to a minute after training). Serve it in fp32 for now and switch to int8 "
            "when the Model page shows its figures.",
            code="invalid_precision",
        )
    error = int8.get("error")
    reason = (
        f" ({error})"
        if error
        else " (it was trained before models were quantized; train again to get one)"
    )
    raise ApplicationError(
        f"Model version {version.number} has no int8 model{reason}. Serve it in fp32 "
        'instead ("precision": "fp32").',
        code="invalid_precision",
    )


def _warm(version: ModelVersion, precision: str = Deployment.Precision.FP32) -> None:
    """Load the version into this process before it goes live, so the request that switched
    it pays the loading (not the next prediction), and a model that cannot be loaded is
    refused instead of deployed."""
    int8 = precision == Deployment.Precision.INT8
    try:
        registry.runner_for(
            version_id=version.id,
            onnx_name=(version.int8_onnx_file.name if int8 else version.onnx_file.name) or "",
            labels=tuple(version.labels),
            backbone=version.backbone,
            ood_name=version.ood_file.name or "",
            precision=precision,
        )
    except Exception as exc:  # noqa: BLE001 - any loading failure means "cannot serve it"
        logger.exception("model version %s could not be loaded", version.id)
        raise ApplicationError(
            f"Model version {version.number} could not be loaded for serving: its model file "
            "is missing or damaged.",
            code="model_unavailable",
        ) from exc


def _threshold_clean(value: Any) -> float:
    try:
        threshold = float(value)
    except (TypeError, ValueError) as exc:
        raise ApplicationError(
            "The threshold must be a number between 0 and 1.", code="invalid_threshold"
        ) from exc
    if not 0.0 <= threshold <= 1.0:
        raise ApplicationError(
            "The threshold must be between 0 and 1 (for example 0.6 for 60%).",
            code="invalid_threshold",
        )
    return threshold


def _rate_limit_clean(value: Any) -> str:
    try:
        return rate_limit_clean(value)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="invalid_rate_limit") from exc


def _new_slug(base: str) -> str:
    stem = slugify(base)[:40].strip("-") or "model"
    return f"{stem}-{''.join(secrets.choice(SLUG_ALPHABET) for _ in range(6))}"


def deployment_create(
    *,
    project: Project,
    model_version_id: Any,
    name: str = "",
    created_by: Any = None,
    threshold: Any = UNSET,
    store_images: Any = UNSET,
    rate_limit: Any = UNSET,
    precision: Any = UNSET,
) -> Deployment:
    """Deploy one of the project's model versions at a new, unguessable slug, served in
    ``precision`` ("fp32", the default, or "int8" when the version has an int8 file)."""
    version = _model_version_of(project=project, model_version_id=model_version_id)
    name = (name or "").strip()
    deployment = Deployment(
        project=project,
        name=name[:200],
        model_version=version,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    if threshold is not UNSET:
        deployment.threshold = _threshold_clean(threshold)
    if store_images is not UNSET:
        deployment.store_images = bool(store_images)
    if rate_limit is not UNSET:
        deployment.rate_limit = _rate_limit_clean(rate_limit)
    if precision is not UNSET:
        deployment.precision = _precision_clean(precision)
    _precision_check(version, deployment.precision)
    _warm(version, deployment.precision)
    for _attempt in range(5):
        deployment.slug = _new_slug(name or project.name)
        try:
            with transaction.atomic():
                deployment.save(force_insert=True)
                _change_record(
                    deployment=deployment,
                    from_version=None,
                    to_version=version,
                    reason=DeploymentChange.Reason.DEPLOY,
                    changed_by=deployment.created_by,
                )
                _publish_change(strict=False)
            return deployment
        except IntegrityError:  # the random suffix collided: draw another
            deployment.pk = None
    raise ApplicationError("Could not create the deployment; please try again.", code="conflict")


def _change_record(
    *,
    deployment: Deployment,
    from_version: ModelVersion | None,
    to_version: ModelVersion,
    reason: str,
    changed_by: Any,
) -> DeploymentChange:
    """Inside the switch's transaction: the history's entry for it."""
    change = DeploymentChange.objects.create(
        deployment=deployment,
        from_version=from_version,
        from_number=from_version.number if from_version else None,
        to_version=to_version,
        to_number=to_version.number,
        reason=reason,
        changed_by=changed_by if getattr(changed_by, "pk", None) else None,
    )
    on_deployment_changed.send(change=change)
    return change


def deployment_update(
    *,
    deployment: Deployment,
    model_version_id: Any = UNSET,
    changed_by: Any = None,
    reason: str = DeploymentChange.Reason.MANUAL,
    name: Any = UNSET,
    threshold: Any = UNSET,
    store_images: Any = UNSET,
    rate_limit: Any = UNSET,
    precision: Any = UNSET,
) -> Deployment:
    """Change a deployment. A new ``precision`` serves the version's fp32 or int8 graph
    (loaded first, like a switch). A new ``model_version_id`` switches the live model (also how a
    rollback is done): the new version is loaded first, then the switch is committed (and
    recorded in the deployment's history, by ``changed_by`` for ``reason``), and from then
    on every request is answered by it."""
    fields: list[str] = []
    served_precision = deployment.precision
    if precision is not UNSET:
        deployment.precision = _precision_clean(precision)
    if model_version_id is not UNSET:
        version = _model_version_of(project=deployment.project, model_version_id=model_version_id)
        if version.id != deployment.model_version_id:
            _precision_check(version, deployment.precision)
            _warm(version, deployment.precision)
            deployment.model_version = version
            fields.append("model_version")
    if deployment.precision != served_precision:
        if "model_version" not in fields:
            _precision_check(deployment.model_version, deployment.precision)
            _warm(deployment.model_version, deployment.precision)
        fields.append("precision")
    if name is not UNSET:
        deployment.name = str(name or "").strip()[:200]
        fields.append("name")
    if threshold is not UNSET:
        deployment.threshold = _threshold_clean(threshold)
        fields.append("threshold")
    if store_images is not UNSET:
        deployment.store_images = bool(store_images)
        fields.append("store_images")
    if rate_limit is not UNSET:
        deployment.rate_limit = _rate_limit_clean(rate_limit)
        fields.append("rate_limit")
    if fields:
        with transaction.atomic():
            if "model_version" in fields:
                # What it served until now, read under the row's lock: concurrent switches
                # are recorded one after the other, each from what the previous one left.
                served = (
                    Deployment.objects.select_for_update()
                    .select_related("model_version")
                    .get(pk=deployment.pk)
                    .model_version
                )
                if served.pk != deployment.model_version_id:
                    _change_record(
                        deployment=deployment,
                        from_version=served,
                        to_version=deployment.model_version,
                        reason=reason,
                        changed_by=changed_by,
                    )
            deployment.save(update_fields=[*fields, "updated_at"])
            _publish_change()
    return deployment


def deployment_switch(
    *,
    deployment: Deployment,
    model_version_id: Any,
    changed_by: Any = None,
    reason: str = DeploymentChange.Reason.MANUAL,
) -> Deployment:
    """Serve another model version of the project, recorded in its history."""
    return deployment_update(
        deployment=deployment,
        model_version_id=model_version_id,
        changed_by=changed_by,
        reason=reason,
    )


def deployment_rollback(*, deployment: Deployment, changed_by: Any = None) -> Deployment:
    """Serve again the version served before the deployment's last change (the last change
    may itself be a rollback: rolling back twice returns to where it started). 409 when the
    deployment has served no other version, or that version was deleted since."""
    last = DeploymentChange.objects.filter(deployment=deployment).order_by("-id").first()
    if last is None or last.from_number is None:
        raise ApplicationError(
            "There is no earlier version to roll back to: this deployment has served only "
            f"model v{deployment.model_version.number}.",
            code="no_earlier_version",
            status_code=409,
        )
    if last.from_version_id is None:
        raise ApplicationError(
            f"Model v{last.from_number}, served before the last change, has been deleted, so "
            "it cannot be served again. Switch to another version instead.",
            code="no_earlier_version",
            status_code=409,
        )
    return deployment_switch(
        deployment=deployment,
        model_version_id=last.from_version_id,
        changed_by=changed_by,
        reason=DeploymentChange.Reason.ROLLBACK,
    )


def deployment_delete(*, deployment: Deployment) -> None:
    """Stop a deployment: its URL answers 404 at once. Its keys and prediction log go with
    it; the stored images are deleted after the commit."""
    with transaction.atomic():
        slug = deployment.slug
        deployment.delete()
        _publish_change()
        storage_prefix_delete_later(prefix=image_storage_prefix(slug))


def deployments_project_deleting(*, project: Project, **_: Any) -> None:
    """A project is being deleted (``apps.core.hooks.on_project_deleting``, inside its
    transaction): its deployments go first (they protect their model versions), stop
    answering in every process at once, and their stored prediction images are deleted
    after the commit. Raises ``ApplicationError`` (503) when the change cannot be
    published, so that the project is not deleted."""
    with transaction.atomic():
        deployments = Deployment.objects.filter(project=project)
        slugs = list(deployments.values_list("slug", flat=True))
        if not slugs:
            return
        deployments.delete()
        _publish_change()
        for slug in slugs:
            storage_prefix_delete_later(prefix=image_storage_prefix(slug))


# --- API keys ---------------------------------------------------------------------------


def api_key_create(*, deployment: Deployment, name: str) -> tuple[DeploymentApiKey, str]:
    """A new key for the deployment. Returns the row and the key itself, which is shown
    once: only its hash is stored."""
    name = " ".join(str(name or "").split())
    if not name:
        raise ApplicationError(
            "Give the key a name (who or what will use it).", code="invalid_name"
        )
    if len(name) > API_KEY_NAME_MAX:
        raise ApplicationError(
            f"A key name can be at most {API_KEY_NAME_MAX} characters long.", code="invalid_name"
        )
    with transaction.atomic():
        api_key, key = DeploymentApiKey.objects.create_key(name=name, deployment=deployment)
        _publish_change(strict=False)
    # create_key is typed for the abstract key model; it creates a row of this manager's model.
    return cast(DeploymentApiKey, api_key), key


def api_key_revoke(*, api_key: DeploymentApiKey) -> DeploymentApiKey:
    """Revoke a key; every web process stops accepting it with its next request."""
    if not api_key.revoked:
        with transaction.atomic():
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])
            _publish_change()
    return api_key


# --- Predictions ------------------------------------------------------------------------


def _ood(
    runner: Any, features: np.ndarray | None, count: int
) -> tuple[list[float | None], list[bool | None]]:
    """Each image's out-of-distribution score and flag (None for a model without a
    reference): its embedding against the scorer loaded with the model."""
    scorer = getattr(runner, "ood", None)
    if scorer is None or features is None:
        return [None] * count, [None] * count
    scores = scorer.scores(features)
    return (
        [round(float(score), 5) for score in scores],
        [bool(score > scorer.threshold) for score in scores],
    )


def predictions_make(
    *,
    live: LiveDeployment,
    inputs: PredictionInputs,
    source: str = PredictionLog.Source.API,
    started: float | None = None,
) -> dict[str, Any]:
    """Classify the request's images with the deployment's live model version and log each
    prediction (in the background). Returns the API's answer.

    The images are decoded within the request's pixel budget (``serving.decoding``) and
    preprocessed by ``ml.preprocess_batch``, exactly as for training.
    """
    started = time.perf_counter() if started is None else started
    # During a canary, this request may be answered by the candidate (the answer names it).
    live = canary_route(live)
    runner = registry.runner(live)
    with runner.serving():
        decoded = decode_for_model(
            inputs.images, backbone=live.backbone, many=inputs.many, max_bytes=max_image_bytes()
        )
        batch = ml.preprocess_batch([image.image for image in decoded], live.backbone)
        probabilities, features = runner.predict_arrays_with_features(batch)
    ood_scores, ood_flags = _ood(runner, features, len(probabilities))
    sketches = runner.sketches(features, len(probabilities))

    labels = live.labels
    latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
    created_at = timezone.now()
    results: list[dict[str, Any]] = []
    entries: list[LogEntry] = []
    for k, (item, image, row) in enumerate(zip(inputs.images, decoded, probabilities, strict=True)):
        order = np.argsort(-row, kind="stable")
        predictions = [{"label": labels[j], "confidence": float(row[j])} for j in order]
        top = predictions[0]
        uncertain = top["confidence"] < live.threshold
        uid = uuid.uuid4()
        results.append(
            {
                "id": str(uid),
                "deployment": live.slug,
                "model_version": live.model_version_id,
                "model_version_number": live.model_version_number,
                "prediction": top,
                "predictions": predictions,
                "uncertain": uncertain,
                "out_of_distribution": ood_flags[k],
                "ood_score": ood_scores[k],
                "latency_ms": latency_ms,
                "precision": live.precision,
            }
        )
        entries.append(
            LogEntry(
                uid=uid,
                deployment_id=live.id,
                deployment_slug=live.slug,
                model_version_id=live.model_version_id,
                label=top["label"],
                confidence=top["confidence"],
                predictions=predictions,
                uncertain=uncertain,
                ood_score=ood_scores[k],
                out_of_distribution=ood_flags[k],
                sketch=sketches[k],
                latency_ms=latency_ms,
                created_at=created_at,
                source=source,
                image=item.data if live.store_images else None,
                image_ext=ml.FORMAT_EXTENSIONS.get(image.format, "bin"),
            )
        )
    writer.submit(entries)
    if live.shadow is not None:  # a shadow candidate runs on the same inputs, off this path
        shadow_submit(live=live, entries=entries, batch=batch, images=[d.image for d in decoded])
    metrics.predictions_observe(
        deployment=live.slug, labels=[e.label for e in entries], seconds=latency_ms / 1000
    )
    if not inputs.many:
        return results[0]
    return {
        "deployment": live.slug,
        "model_version": live.model_version_id,
        "model_version_number": live.model_version_number,
        "precision": live.precision,
        "latency_ms": latency_ms,
        "results": results,
    }


def prediction_add_to_dataset(
    *, prediction: PredictionLog, label: Any, user: Any = None
) -> tuple[Any, bool]:
    """Copy a logged prediction's image into the project's data set with ``label`` (one of
    the project's labels), through the ingestion service (source "prediction", a label
    event with source "prediction"). Returns ``(image, created)``.

    Idempotent: a second call (or a call for an image the data set already has) returns the
    existing image with ``created=False``; nothing is copied twice.
    """
    project = prediction.deployment.project
    if prediction.added_image_id:
        existing = (
            Image.objects.filter(pk=prediction.added_image_id).select_related("label").first()
        )
        if existing is not None:
            return existing, False
    if not prediction.image.name:
        raise ApplicationError(
            "This prediction's image was not kept (the deployment does not store images), so "
            "it cannot be added to the data set.",
            code="image_not_stored",
        )
    found = label_find_by_name(project=project, name=str(label or ""))
    if found is None:
        names = ", ".join(
            Label.objects.filter(project=project).order_by("name").values_list("name", flat=True)
        )
        raise ApplicationError(
            f"The project has no label called {label!r}."
            + (f" Its labels are: {names}." if names else " Create the label first."),
            code="invalid_label",
        )
    try:
        with default_storage.open(prediction.image.name, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise ApplicationError(
            "This prediction's stored image no longer exists.", code="image_not_stored"
        ) from exc
    extension = prediction.image.name.rsplit(".", 1)[-1] if "." in prediction.image.name else "jpg"
    try:
        image = image_ingest(
            project=project,
            data=data,
            filename=f"prediction-{prediction.uid.hex[:12]}.{extension}",
            label=found.name,
            uploaded_by=user,
            source=Image.Source.PREDICTION,
            label_source=LabelEvent.Source.PREDICTION,
        )
        created = True
    except ml.ImageRejected as exc:
        raise ApplicationError(exc.message, code=exc.code) from exc
    except ApplicationError as exc:
        if exc.code != "duplicate" or not exc.extra.get("existing_id"):
            raise
        image = Image.objects.select_related("label").get(pk=exc.extra["existing_id"])
        created = False
    PredictionLog.objects.filter(pk=prediction.pk).update(added_image=image)
    prediction.added_image = image
    return image, created
