"""Reads for batch predictions: who may see a batch, a deployment's recent batches, and a
batch's rows in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.batches.models import BatchItem, BatchJob
from apps.deployments.models import Deployment

RESULT_ROWS_PER_QUERY = 2000


def batch_list(*, deployment: Deployment) -> QuerySet[BatchJob]:
    """The deployment's batches, newest first."""
    return BatchJob.objects.filter(deployment=deployment).select_related("deployment")


def batch_get(*, batch_id: int, user: Any = None, deployment_id: int | None = None) -> BatchJob:
    """The batch, for its deployment's owner (``user``) or a caller holding one of its
    deployment's API keys (``deployment_id``); 404 for anybody else."""
    rows = BatchJob.objects.select_related("deployment", "deployment__project").filter(pk=batch_id)
    if deployment_id is not None:
        rows = rows.filter(deployment_id=deployment_id)
    elif getattr(user, "is_authenticated", False):
        rows = rows.filter(deployment__project__owner=user)
    else:
        raise Http404("Batch not found.")
    batch = rows.first()
    if batch is None:
        raise Http404("Batch not found.")
    return batch


def batch_deployment_slug(*, batch_id: int) -> str | None:
    """The slug of the batch's deployment (for checking an API key), None if no batch."""
    return BatchJob.objects.filter(pk=batch_id).values_list("deployment__slug", flat=True).first()


def batch_rows(*, batch: BatchJob) -> Iterator[BatchItem]:
    """The batch's rows written so far, in input order, read in pages."""
    return (
        BatchItem.objects.filter(batch=batch)
        .order_by("index")
        .iterator(chunk_size=RESULT_ROWS_PER_QUERY)
    )
