"""Reads for projects and their labels. A project is visible to its owner only: for anyone
else it does not exist (404), so ids cannot be probed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Count, Expression, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.projects.models import Label, Project


def project_get_for_user(*, user: Any, project_id: int) -> Project:
    """The user's project, or 404 (also for somebody else's project)."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Project not found.")
    try:
        return Project.objects.get(id=project_id, owner=user)
    except (Project.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Project not found.") from exc


def count_subquery(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of a correlated queryset as one scalar subquery (no per-row queries)."""
    counted = queryset.order_by().values("project_id").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


# Figures about a project that apps above projects own (its images, its model versions)
# are annotated onto the project list by those apps: each registers, in its
# AppConfig.ready(), a name and a function building a correlated expression on
# ``OuterRef("pk")``. Projects never imports them (core <- projects <- datasets <- ...).
ProjectAnnotation = Callable[[], Expression | Subquery | Coalesce]
_list_annotations: dict[str, ProjectAnnotation] = {}


def project_list_annotation_register(name: str, build: ProjectAnnotation) -> None:
    """Add ``name`` to every project of ``project_list_for_user``, computed by ``build()``
    as one scalar (sub)query per row: no per-row queries."""
    _list_annotations[name] = build


def project_list_for_user(*, user: Any) -> QuerySet[Project]:
    """The user's projects with label_count and every registered figure (image_count,
    labeled_count, latest_accuracy …) annotated: one query."""
    figures = {name: build() for name, build in _list_annotations.items()}
    return (
        Project.objects.filter(owner=user)
        .annotate(
            label_count=count_subquery(Label.objects.filter(project_id=OuterRef("pk"))),
            **figures,
        )
        .order_by("-created_at", "-id")
    )


def project_get_annotated_for_user(*, user: Any, project_id: int) -> Project:
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
