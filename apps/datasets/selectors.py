"""Reads for a project's images, its data set statistics and its import jobs.

Every read is an indexed query on (project, label | split, -id); nothing runs per row."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import Http404

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image, ImportJob, RejectionCount, Split
from apps.projects.models import Label, Project

# Orderings the list accepts; created_at follows the id (rows are only ever appended), so
# both use the (project, ..., -id) indexes.
IMAGE_ORDERINGS = {
    "id": ("id",),
    "-id": ("-id",),
    "created_at": ("id",),
    "-created_at": ("-id",),
}
MIN_IMAGES_PER_LABEL = 10
MAX_IMBALANCE = 3.0
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
MAX_FILENAME_FILTER = 255


def _truthy(value: Any, *, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ApplicationError(f'"{name}" must be true or false.', code="invalid_filter")


def image_filter_clean(params: Any) -> dict[str, Any]:
    """The image filter from query parameters or a JSON object: ``label`` (a name),
    ``unlabeled`` (true/false), ``split`` (train, val, test, or "none" for no split yet),
    ``filename`` (part of the uploaded file's name, any case)."""
    params = params or {}
    if not hasattr(params, "get"):
        raise ApplicationError("The filter must be an object.", code="invalid_filter")
    cleaned: dict[str, Any] = {}
    label = params.get("label")
    if label not in (None, ""):
        if not isinstance(label, str):
            raise ApplicationError("The label filter must be a name.", code="invalid_filter")
        cleaned["label"] = label
    unlabeled = params.get("unlabeled")
    if unlabeled is not None:
        cleaned["unlabeled"] = _truthy(unlabeled, name="unlabeled")
    split = params.get("split")
    if split not in (None, ""):
        if split == "none":
            cleaned["split"] = ""
        elif split in Split.values:
            cleaned["split"] = split
        else:
            raise ApplicationError(
                "The split filter must be train, val, test or none.", code="invalid_filter"
            )
    filename = params.get("filename")
    if filename not in (None, ""):
        if not isinstance(filename, str) or len(filename) > MAX_FILENAME_FILTER:
            raise ApplicationError(
                f"The filename filter must be text of at most {MAX_FILENAME_FILTER} characters.",
                code="invalid_filter",
            )
        if filename.strip():
            cleaned["filename"] = filename.strip()
    meta = _meta_filter(params)
    if meta:
        cleaned["meta"] = meta
    return cleaned


MAX_META_FILTERS = 5
MAX_META_KEY = 64


def _meta_filter(params: Any) -> dict[str, str]:
    """``meta.<key>=<value>`` parameters: images whose metadata column has that value."""
    meta: dict[str, str] = {}
    for name in list(params.keys()):
        if not isinstance(name, str) or not name.startswith("meta."):
            continue
        key, value = name[len("meta.") :], params.get(name)
        if not key or len(key) > MAX_META_KEY or not isinstance(value, str | int | float):
            raise ApplicationError(
                f'"{name[:80]}" must be meta.<column>=<value>, the column name at most '
                f"{MAX_META_KEY} characters.",
                code="invalid_filter",
            )
        meta[key] = str(value).strip()
    if len(meta) > MAX_META_FILTERS:
        raise ApplicationError(
            f"At most {MAX_META_FILTERS} metadata filters at once.", code="invalid_filter"
        )
    return meta


def image_list(
    *, project: Project, filters: dict[str, Any] | None = None, ordering: str = "-id"
) -> QuerySet[Image]:
    """The project's images, filtered (see ``image_filter_clean``). The label name is
    resolved first (one small query), so the image query filters on label_id alone."""
    filters = filters or {}
    if ordering not in IMAGE_ORDERINGS:
        allowed = ", ".join(IMAGE_ORDERINGS)
        raise ApplicationError(f"Ordering must be one of {allowed}.", code="invalid_ordering")
    queryset = Image.objects.filter(project=project)
    if "label" in filters:
        label_id = (
            Label.objects.filter(project=project, name__iexact=" ".join(filters["label"].split()))
            .values_list("id", flat=True)
            .first()
        )
        if label_id is None:
            return Image.objects.none()
        queryset = queryset.filter(label_id=label_id)
    if filters.get("unlabeled") is True:
        queryset = queryset.filter(label__isnull=True)
    elif filters.get("unlabeled") is False and "label" not in filters:
        queryset = queryset.filter(label__isnull=False)
    if "split" in filters:
        queryset = queryset.filter(split=filters["split"])
    if "filename" in filters:
        # A substring match cannot use a b-tree index; the (project, -id) index narrows the
        # scan to this project's rows, and pages stop at page_size matches in id order.
        queryset = queryset.filter(original_filename__icontains=filters["filename"])
    for position, (key, value) in enumerate(filters.get("meta", {}).items()):
        # KeyTextTransform takes the key as one name: a key containing "__" stays a key,
        # never a lookup path.
        alias = f"meta_{position}"
        # Cast: KeyTextTransform keeps KeyTransform's JSON lookups; compare as text.
        text = Cast(KeyTextTransform(key, "metadata"), output_field=TextField())
        queryset = queryset.alias(**{alias: text}).filter(**{alias: value})
    return queryset.select_related("label").order_by(*IMAGE_ORDERINGS[ordering])


# The metadata filter's choices: at most this many columns, and this many values per column
# (the most frequent; a column of unique values, a timestamp say, is filtered by typing).
MAX_META_COLUMNS = 50
MAX_META_VALUES = 100


def image_metadata_columns(*, project: Project) -> list[dict[str, Any]]:
    """The metadata columns of the project's images, by name, each with its values, most
    frequent first (``MAX_META_VALUES`` at most, ``truncated`` says when there are more),
    and how many images have the column. One query over the images that have metadata,
    counted here: the JSON functions that could count in SQL differ between SQLite and
    PostgreSQL."""
    counts: dict[str, dict[str, int]] = {}
    rows = (
        Image.objects.filter(project=project)
        .exclude(metadata={})
        .values_list("metadata", flat=True)
        .iterator(chunk_size=2000)
    )
    for metadata in rows:
        if not isinstance(metadata, dict):
            continue
        for key, value in metadata.items():
            if value in (None, ""):
                continue
            column = counts.setdefault(str(key), {})
            column[str(value)] = column.get(str(value), 0) + 1
    columns = []
    for key in sorted(counts, key=str.lower)[:MAX_META_COLUMNS]:
        values = sorted(counts[key].items(), key=lambda item: (-item[1], item[0]))
        columns.append(
            {
                "key": key,
                "images": sum(count for _, count in values),
                "values": [
                    {"value": value, "count": count} for value, count in values[:MAX_META_VALUES]
                ],
                "truncated": len(values) > MAX_META_VALUES,
            }
        )
    return columns


def image_get(*, project: Project, image_id: Any) -> Image:
    try:
        return Image.objects.select_related("label", "project").get(project=project, id=image_id)
    except (Image.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Image not found.") from exc


def dataset_stats(*, project: Project) -> dict[str, Any]:
    """Counts per label, per split and per label x split, with the warnings a user should
    see before training. Three queries whatever the size of the data set."""
    splits = [*Split.values, "unassigned"]
    labels = list(Label.objects.filter(project=project).order_by("name").values_list("id", "name"))
    per_label: dict[int | None, dict[str, int]] = {
        label_id: dict.fromkeys(splits, 0) for label_id, _ in labels
    }
    per_label[None] = dict.fromkeys(splits, 0)
    rows = (
        Image.objects.filter(project=project)
        .order_by()
        .values_list("label_id", "split")
        .annotate(n=Count("id"))
    )
    for label_id, split, n in rows:
        per_label.setdefault(label_id, dict.fromkeys(splits, 0))[split or "unassigned"] += n
    rejections = (
        RejectionCount.objects.filter(project=project).values_list("duplicates", "rejected").first()
    ) or (0, 0)

    split_totals = dict.fromkeys(splits, 0)
    for counts in per_label.values():
        for split, n in counts.items():
            split_totals[split] += n
    label_rows = [
        {
            "id": label_id,
            "name": name,
            "count": sum(per_label[label_id].values()),
            "splits": per_label[label_id],
        }
        for label_id, name in labels
    ]
    unlabeled = sum(per_label[None].values())
    total = sum(split_totals.values())
    return {
        "total": total,
        "labeled": total - unlabeled,
        "unlabeled": unlabeled,
        "unlabeled_splits": per_label[None],
        "labels": label_rows,
        "splits": split_totals,
        "duplicates_rejected": rejections[0],
        "rejected": rejections[1],
        "warnings": _warnings(label_rows=label_rows, unlabeled=unlabeled),
    }


def _warnings(*, label_rows: list[dict[str, Any]], unlabeled: int) -> list[dict[str, Any]]:
    warnings: list[dict[str, Any]] = []
    if not label_rows:
        warnings.append(
            {
                "code": "no_labels",
                "message": "This project has no labels yet. Add the labels you want to "
                "predict (at least two), then label some images.",
            }
        )
    elif len(label_rows) == 1:
        warnings.append(
            {
                "code": "one_label",
                "message": "A model needs at least two labels to choose between. Add another "
                "label.",
            }
        )
    for row in label_rows:
        if row["count"] < MIN_IMAGES_PER_LABEL:
            warnings.append(
                {
                    "code": "few_images",
                    "label": row["name"],
                    "message": f'The label "{row["name"]}" has only {row["count"]} '
                    f"image{'s' if row['count'] != 1 else ''}. Add at least "
                    f"{MIN_IMAGES_PER_LABEL} (50 or more works much better).",
                }
            )
    counted = [row for row in label_rows if row["count"] > 0]
    if len(counted) >= 2:
        largest = max(counted, key=lambda r: r["count"])
        smallest = min(counted, key=lambda r: r["count"])
        if largest["count"] / smallest["count"] > MAX_IMBALANCE:
            warnings.append(
                {
                    "code": "imbalance",
                    "message": f'The labels are unbalanced: "{largest["name"]}" has '
                    f'{largest["count"]} images but "{smallest["name"]}" only '
                    f"{smallest['count']}. The model may favour the bigger label; add images "
                    "to the smaller ones.",
                }
            )
    if unlabeled:
        warnings.append(
            {
                "code": "unlabeled",
                "message": f"{unlabeled} image{'s have' if unlabeled != 1 else ' has'} no "
                "label yet. Unlabeled images are not used for training.",
            }
        )
    return warnings


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).order_by("-id")


def import_job_get_for_user(*, user: Any, job_id: Any) -> ImportJob:
    """An import of one of the user's projects, or 404."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Import not found.")
    try:
        return ImportJob.objects.select_related("project").get(id=job_id, project__owner=user)
    except (ImportJob.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Import not found.") from exc
