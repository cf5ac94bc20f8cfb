"""Writes for projects and labels."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_label_deleting, on_project_deleting
from apps.core.storage import project_storage_prefix, storage_prefix_delete_later
from apps.projects.models import Label, Project

LABEL_NAME_MAX = Label._meta.get_field("name").max_length or 100
PROJECT_FIELDS = ("name", "description", "predicts", "task_type", "target_metric", "target_value")


def label_name_clean(name: Any) -> str:
    """A label name as stored: surrounding and repeated spaces removed. Raises for empty or
    too long names."""
    if not isinstance(name, str):
        raise ApplicationError("A label name must be text.", code="invalid_label")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ApplicationError("A label needs a name.", code="invalid_label")
    if len(cleaned) > LABEL_NAME_MAX:
        raise ApplicationError(
            f"A label name can be at most {LABEL_NAME_MAX} characters long.",
            code="invalid_label",
        )
    return cleaned


def _validate(instance: Project | Label) -> None:
    try:
        instance.full_clean(exclude=["owner", "project"])
    except ValidationError as exc:
        raise ApplicationError(
            " ".join(exc.messages), code="invalid", extra={"fields": exc.message_dict}
        ) from exc


def _check_target(project: Project) -> None:
    if not 0.0 < float(project.target_value) <= 1.0:
        raise ApplicationError(
            "The target must be a fraction between 0 and 1, for example 0.95 for 95%.",
            code="invalid_target",
        )


@transaction.atomic
def project_create(
    *,
    owner: Any,
    name: str,
    description: str = "",
    predicts: str = "",
    task_type: str = Project.TaskType.SINGLE_LABEL,
    target_metric: str = Project.TargetMetric.ACCURACY,
    target_value: float = 0.9,
    labels: Iterable[str] = (),
) -> Project:
    project = Project(
        owner=owner,
        name=(name or "").strip(),
        description=description,
        predicts=predicts.strip(),
        task_type=task_type,
        target_metric=target_metric,
        target_value=target_value,
    )
    _validate(project)
    _check_target(project)
    project.save()
    names = [label_name_clean(n) for n in labels]
    seen: set[str] = set()
    unique: list[str] = []
    for label_name in names:  # the first spelling of each name, compared without case
        if label_name.casefold() not in seen:
            seen.add(label_name.casefold())
            unique.append(label_name)
    Label.objects.bulk_create([Label(project=project, name=n) for n in unique])
    return project


@transaction.atomic
def project_update(*, project: Project, data: dict[str, Any]) -> Project:
    """Change any of PROJECT_FIELDS."""
    for field in PROJECT_FIELDS:
        if field in data:
            value = data[field]
            setattr(project, field, value.strip() if field in ("name", "predicts") else value)
    _validate(project)
    _check_target(project)
    project.save()
    return project


def project_delete(*, project: Project) -> None:
    """Delete the project with its images, labels, jobs and models; its files go after the
    commit (in a worker: a big project has hundreds of thousands). The apps above projects
    clear what must go first through ``on_project_deleting`` (deployments: a served model
    is PROTECTed, and serving processes must stop answering)."""
    project_id = project.id
    with transaction.atomic():
        on_project_deleting.send(project=project)
        project.delete()
        storage_prefix_delete_later(prefix=project_storage_prefix(project_id))


def labels_get_or_create(*, project: Project, names: Iterable[str]) -> dict[str, Label]:
    """Labels by name (matched ignoring case), created when missing. Keys are the cleaned
    names as given. Two queries, three when some are new."""
    wanted = {}
    for raw in names:
        cleaned = label_name_clean(raw)
        wanted[cleaned] = cleaned.casefold()
    if not wanted:
        return {}
    existing = {label.name.casefold(): label for label in Label.objects.filter(project=project)}
    missing: dict[str, str] = {}
    for cleaned, folded in wanted.items():
        if folded not in existing and folded not in missing:
            missing[folded] = cleaned
    if missing:
        # ignore_conflicts: a concurrent import may create the same label right now.
        Label.objects.bulk_create(
            [Label(project=project, name=name) for name in missing.values()],
            ignore_conflicts=True,
        )
        existing = {label.name.casefold(): label for label in Label.objects.filter(project=project)}
    return {cleaned: existing[folded] for cleaned, folded in wanted.items()}


def label_create(*, project: Project, name: str, color: str = "") -> Label:
    cleaned = label_name_clean(name)
    if Label.objects.filter(project=project, name__iexact=cleaned).exists():
        raise ApplicationError(
            f'There is already a label called "{cleaned}" in this project.',
            code="label_exists",
        )
    label = Label(project=project, name=cleaned, color=color)
    _validate(label)
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError as exc:
        raise ApplicationError(
            f'There is already a label called "{cleaned}" in this project.',
            code="label_exists",
        ) from exc
    return label


def label_update(*, label: Label, name: str | None = None, color: str | None = None) -> Label:
    """Rename (images keep the label; history keeps the old name as text) or recolour."""
    if name is not None:
        cleaned = label_name_clean(name)
        clash = (
            Label.objects.filter(project_id=label.project_id, name__iexact=cleaned)
            .exclude(id=label.id)
            .exists()
        )
        if clash:
            raise ApplicationError(
                f'There is already a label called "{cleaned}" in this project.',
                code="label_exists",
            )
        label.name = cleaned
    if color is not None:
        label.color = color
    _validate(label)
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError as exc:
        raise ApplicationError(
            f'There is already a label called "{label.name}" in this project.',
            code="label_exists",
        ) from exc
    return label


def label_delete(*, label: Label, actor: Any = None) -> None:
    """Delete a label. Its images are kept and become unlabeled, each with a history entry
    (labeling does both, through ``on_label_deleting``)."""
    with transaction.atomic():
        on_label_deleting.send(label=label, actor=actor)
        label.delete()
