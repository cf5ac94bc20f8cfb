"""Writes for data sets that are neither ingestion (``apps.datasets.ingest``), imports
(``apps.datasets.imports``, ``apps.datasets.zips``) nor the split
(``apps.datasets.splits``): deleting images."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from apps.core.storage import storage_files_delete_later
from apps.datasets.models import Image
from apps.projects.models import Project


def images_delete(*, project: Project, images: QuerySet[Image]) -> int:
    """Delete images (with their label history and embeddings); their files are deleted
    after the commit. Returns how many were deleted."""
    with transaction.atomic():
        selected = images.filter(project=project).order_by()
        rows = list(selected.values_list("id", "original", "normalized", "thumbnail"))
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 900):
            Image.objects.filter(id__in=ids[start : start + 900]).delete()
        storage_files_delete_later(names=[name for row in rows for name in row[1:]])
    return len(rows)
