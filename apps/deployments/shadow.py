"""Writes for a shadow rollout's disagreements: settling one (somebody says which label was
right) puts its logged image into the project's data set with that label and counts the
answer for the live version, the candidate, or neither (``settled`` in the rollout's
state), which the promotion gate reads."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.deployments.models import Deployment, ShadowResult
from apps.deployments.selectors import prediction_get
from apps.deployments.services import prediction_add_to_dataset


def shadow_result_settle(
    *, deployment: Deployment, result: ShadowResult, label: Any, user: Any = None
) -> tuple[ShadowResult, Any, bool]:
    """Label a disagreement: its image goes into the data set with ``label`` (the prediction
    log's add-to-dataset, idempotent), and ``label`` is recorded as the truth. Returns
    ``(result, image, created)``. 400 when the deployment kept no image for it (it does
    not store images), or for a label the project does not have. Settling again changes
    nothing: the image is in the data set once, with the label it was given first."""
    if result.agree:
        raise ApplicationError(
            "Both versions gave the same answer for this request: there is nothing to settle.",
            code="not_a_disagreement",
        )
    if not deployment.store_images:
        raise ApplicationError(
            "This deployment does not store the images it is sent, so a disagreement cannot "
            "be labeled into the data set. Turn on “store images” and settle the next ones.",
            code="image_not_stored",
        )
    from django.http import Http404

    try:
        prediction = prediction_get(
            deployment=deployment,
            prediction_id=result.prediction_uid,
            wait=float(settings.PREDICTION_ROW_WAIT),
        )
    except Http404 as exc:
        raise ApplicationError(
            "The logged prediction of this request is gone (its image with it), so it cannot "
            "be labeled into the data set.",
            code="image_not_stored",
        ) from exc
    image, created = prediction_add_to_dataset(prediction=prediction, label=label, user=user)
    settled = image.label.name if image.label_id else str(label)
    if created or not result.settled_label:
        # The data set's label is the truth (an image it had already keeps its own).
        ShadowResult.objects.filter(pk=result.pk).update(
            settled_label=settled[:100], settled_at=timezone.now()
        )
        result.settled_label, result.settled_at = settled[:100], timezone.now()
    return result, image, created
