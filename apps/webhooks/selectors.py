"""Reads for webhooks. A webhook belongs to a project and is visible to its owner only."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from apps.projects.models import Project
from apps.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

RECENT_DELIVERIES = 50


def webhook_list(*, project: Project) -> QuerySet[Webhook]:
    return Webhook.objects.filter(project=project)


def webhook_get(*, project: Project, webhook_id: int) -> Webhook:
    try:
        return Webhook.objects.select_related("project").get(project=project, pk=webhook_id)
    except (Webhook.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Webhook not found.") from exc


def delivery_list(*, webhook: Webhook, limit: int = RECENT_DELIVERIES) -> list[WebhookDelivery]:
    """The webhook's latest deliveries, newest first, each with its tries (its log)."""
    return list(
        WebhookDelivery.objects.filter(webhook=webhook)
        .prefetch_related(
            Prefetch("log", queryset=WebhookAttempt.objects.order_by("attempt"), to_attr="tries")
        )
        .order_by("-created_at", "-id")[:limit]
    )
