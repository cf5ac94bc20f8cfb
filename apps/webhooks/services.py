"""Writes for webhooks: create / change / delete one, record an event for its subscribers,
and send one delivery (the Celery task's body).

A delivery is a row of the job machine (apps.core.jobs). Its task claims it (only a queued
row is sent, so a duplicate message sends nothing twice), POSTs through the one guarded
fetcher (apps.core.fetch.post_url), logs the try, and then either closes the row
(succeeded on a 2xx answer; failed after WEBHOOK_MAX_ATTEMPTS tries) or puts it back in
the queue with a message delayed WEBHOOK_BACKOFF_SECONDS * 2**(tries - 1).

Signature (generic kind): ``X-Bakehouse-Signature: sha256=<hex HMAC-SHA256 of
"<X-Bakehouse-Timestamp>.<body>" with the secret>``; a receiver checks it, rejects old
timestamps (replays) and de-duplicates on the body's ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.fetch import FetchError, post_url, url_check
from apps.core.jobs import job_claim, job_dispatch_quietly, job_finish
from apps.projects.models import Project
from apps.webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

LOST_DELIVERY_ERROR = "The worker sending this event stopped; it was tried as often as allowed."
REFUSED_URL_MESSAGE = (
    "Webhooks can only be sent to a public http:// or https:// address. An address on your "
    "own network must first be allowed by the administrator (BAKEHOUSE_URL_ALLOWLIST)."
)
UNSET: Any = object()


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Bakehouse-Signature`` header's value for ``body`` sent at ``timestamp``."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


# --- Webhooks ------------------------------------------------------------------------------


def _url_clean(value: Any) -> str:
    url = str(value or "").strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
        raise ApplicationError(
            "Give the receiver's full address, starting with http:// or https://.",
            code="invalid_url",
        )
    try:
        url_check(url, timeout=settings.WEBHOOK_TIMEOUT)
    except FetchError:
        raise ApplicationError(REFUSED_URL_MESSAGE, code="invalid_url") from None
    return url


def _events_clean(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise ApplicationError("Choose at least one event to send.", code="invalid_events")
    unknown = [str(name) for name in value if name not in EVENT_TYPES]
    if unknown:
        raise ApplicationError(
            f"Unknown event {unknown[0]!r}; the events are {', '.join(EVENT_TYPES)}.",
            code="invalid_events",
        )
    return [name for name in EVENT_TYPES if name in value]  # known order, no duplicates


def _kind_clean(value: Any) -> str:
    if value not in Webhook.Kind.values:
        raise ApplicationError(
            'The kind must be "generic" (signed JSON) or "slack" (a Slack incoming webhook).',
            code="invalid_kind",
        )
    return str(value)


def webhook_create(
    *, project: Project, url: Any, events: Any, kind: Any = Webhook.Kind.GENERIC
) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (the caller shows the secret once)."""
    secret = "whsec_" + secrets.token_hex(24)
    webhook = Webhook(
        project=project,
        url=_url_clean(url),
        events=_events_clean(events),
        kind=_kind_clean(kind),
        secret=secret,
    )
    webhook.full_clean()
    webhook.save()
    return webhook, secret


def webhook_update(
    *,
    webhook: Webhook,
    url: Any = UNSET,
    events: Any = UNSET,
    kind: Any = UNSET,
    active: Any = UNSET,
) -> Webhook:
    fields: list[str] = []
    if url is not UNSET:
        webhook.url = _url_clean(url)
        fields.append("url")
    if events is not UNSET:
        webhook.events = _events_clean(events)
        fields.append("events")
    if kind is not UNSET:
        webhook.kind = _kind_clean(kind)
        fields.append("kind")
    if active is not UNSET:
        webhook.active = bool(active)
        fields.append("active")
    if fields:
        webhook.full_clean()
        webhook.save(update_fields=[*fields, "updated_at"])
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Deletes it with its deliveries; a delivery's message still queued finds no row."""
    webhook.delete()


# --- Events --------------------------------------------------------------------------------


def _slack_text(event_type: str, text: str) -> str:
    return text or f"Bakehouse event {event_type}."


def _body(*, webhook: Webhook, event_id: uuid.UUID, event_type: str, data: dict, text: str) -> str:
    if webhook.kind == Webhook.Kind.SLACK:
        return json.dumps({"text": _slack_text(event_type, text)})
    return json.dumps(
        {
            "id": str(event_id),
            "type": event_type,
            "created_at": timezone.now().isoformat(),
            "data": data,
        },
        separators=(",", ":"),
        default=str,
    )


def _deliveries_create(
    *, webhooks: Iterable[Webhook], event_type: str, data: dict, text: str
) -> list[WebhookDelivery]:
    event_id = uuid.uuid4()
    deliveries = []
    with transaction.atomic():
        for webhook in webhooks:
            delivery = WebhookDelivery.objects.create(
                webhook=webhook,
                event_id=event_id,
                event_type=event_type,
                body=_body(
                    webhook=webhook, event_id=event_id, event_type=event_type, data=data, text=text
                ),
            )
            job_dispatch_quietly(delivery)
            deliveries.append(delivery)
    return deliveries


def event_emit(
    *, project_id: int, event_type: str, data: dict, text: str = ""
) -> list[WebhookDelivery]:
    """Record ``event_type`` for every active webhook of the project subscribed to it (one
    event id for all), and send them after the current transaction commits. ``text`` is the
    sentence a Slack webhook posts."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    webhooks = [
        webhook
        for webhook in Webhook.objects.filter(project_id=project_id, active=True)
        if event_type in webhook.events
    ]
    if not webhooks:
        return []
    return _deliveries_create(webhooks=webhooks, event_type=event_type, data=data, text=text)


def webhook_test_send(*, webhook: Webhook) -> WebhookDelivery:
    """A test event to this webhook alone (also when it is paused)."""
    project = webhook.project
    data = {
        "project": {"id": project.pk, "name": project.name},
        "message": "This is a test event from Bakehouse.",
    }
    text = f"Bakehouse: a test event for project “{project.name}”. This webhook works."
    return _deliveries_create(webhooks=[webhook], event_type=TEST_EVENT, data=data, text=text)[0]


# --- One delivery --------------------------------------------------------------------------


def _failure(exc: FetchError) -> str:
    # FetchError.reason may name internal addresses: the log shown to the user says less.
    if isinstance(exc.__cause__, TimeoutError):
        return f"No answer within {settings.WEBHOOK_TIMEOUT:.0f} s."
    return "Could not connect to the receiver (or its address is not allowed)."


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """One try: (the receiver's status or None, an error for the log)."""
    webhook = delivery.webhook
    body = delivery.body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Bakehouse-Event": delivery.event_type,
        "X-Bakehouse-Delivery": str(delivery.event_id),
        "X-Bakehouse-Timestamp": timestamp,
        "X-Bakehouse-Signature": signature(secret=webhook.secret, timestamp=timestamp, body=body),
    }
    try:
        answer = post_url(webhook.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT)
    except FetchError as exc:
        return None, _failure(exc)
    if 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, f"The receiver answered {answer.status}."


def delivery_run(*, delivery_id: int) -> WebhookDelivery | None:
    """Send one queued delivery once (the task's body); see the module docstring."""
    delivery = job_claim(WebhookDelivery, delivery_id, related=("webhook",))
    if delivery is None:
        return None
    started_at, started = timezone.now(), time.perf_counter()
    code, error = _post(delivery)
    duration_ms = (time.perf_counter() - started) * 1000
    WebhookAttempt.objects.create(
        delivery=delivery,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        attempt=delivery.attempts,
        status_code=code,
        error=error[:300],
        duration_ms=duration_ms,
        started_at=started_at,
        finished_at=timezone.now(),
    )
    if not error:
        job_finish(delivery, status=WebhookDelivery.Status.SUCCEEDED, response_status=code)
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        job_finish(
            delivery,
            status=WebhookDelivery.Status.FAILED,
            error=f"{error} Gave up after {delivery.attempts} tries.",
            response_status=code,
        )
    else:
        _retry_later(delivery, error=error, code=code)
    return delivery


def _retry_later(delivery: WebhookDelivery, *, error: str, code: int | None) -> None:
    """Back to the queue (only if this try still holds the row), sent again after a wait."""
    wait = settings.WEBHOOK_BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
    now = timezone.now()
    with transaction.atomic():
        held = WebhookDelivery.objects.filter(
            pk=delivery.pk, attempts=delivery.attempts, status=WebhookDelivery.Status.RUNNING
        ).update(
            status=WebhookDelivery.Status.QUEUED,
            worker="",
            error=error,
            response_status=code,
            dispatched_at=None,
            dispatches=0,
            updated_at=now,
        )
        if held:
            job_dispatch_quietly(delivery, countdown=wait)
