"""Reads for projects and their labels. A project is visible to its owner only: for anyone
else it does not exist (404), so ids cannot be probed."""

from __future__ import annotations

from django.db.models import Count, FloatField, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.http import Http404

from apps.projects.models import Label, Project


def project_get_for_user(*, user, project_id: int) -> Project:
    """The user's project, or 404 (also for somebody else's project)."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Project not found.")
    try:
        return Project.objects.get(id=project_id, owner=user)
    except (Project.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Project not found.") from exc


def _count_subquery(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of a correlated queryset as one scalar subquery (no per-row queries)."""
    counted = queryset.order_by().values("project_id").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def project_list_for_user(*, user) -> QuerySet[Project]:
    """The user's projects with image_count, labeled_count, label_count and
    latest_accuracy (of the newest model version, or None) annotated: one query."""
    from apps.datasets.models import Image
    from apps.training.models import ModelVersion

    images = Image.objects.filter(project_id=OuterRef("pk"))
    latest_accuracy = (
        ModelVersion.objects.filter(project_id=OuterRef("pk"))
        .order_by("-number")
        # ->> (text, SQL NULL for a JSON null) then a cast: works on SQLite and PostgreSQL.
        .annotate(accuracy=Cast(KeyTextTransform("accuracy", "metrics"), FloatField()))
        .values("accuracy")[:1]
    )
    return (
        Project.objects.filter(owner=user)
        .annotate(
            image_count=_count_subquery(images),
            labeled_count=_count_subquery(images.filter(label__isnull=False)),
            label_count=_count_subquery(Label.objects.filter(project_id=OuterRef("pk"))),
            latest_accuracy=Subquery(latest_accuracy, output_field=FloatField()),
        )
        .order_by("-created_at", "-id")
    )


def project_get_annotated_for_user(*, user, project_id: int) -> Project:
    """One project with the same counts as the list."""
    try:
        return project_list_for_user(user=user).get(id=project_id)
    except (Project.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Project not found.") from exc


def label_list(*, project: Project) -> QuerySet[Label]:
    """The project's labels with image_count, by name."""
    return (
        Label.objects.filter(project=project).annotate(image_count=Count("images")).order_by("name")
    )


def label_get(*, project: Project, label_id: int) -> Label:
    try:
        return label_list(project=project).get(id=label_id)
    except (Label.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Label not found.") from exc


def label_find_by_name(*, project: Project, name: str) -> Label | None:
    """The label whose name matches, ignoring case and surrounding spaces."""
    cleaned = " ".join(name.split())
    if not cleaned:
        return None
    return Label.objects.filter(project=project, name__iexact=cleaned).first()
