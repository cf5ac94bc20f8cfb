"""The platform at a glance, for staff: workers and the queues they read, queue lengths,
and the jobs queued or running (every kind registered with the job machine).

Reuses the health monitor (apps.core.selectors.platform_health: database, broker, worker
count) and adds what it does not have: which workers answer and for which queues (one
broadcast to the workers), how long each queue is (read from the broker, as /metrics
does), and the job rows.
"""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.jobs import Job, registered_kinds
from apps.core.metrics import queue_lengths
from apps.core.selectors import platform_health

logger = logging.getLogger(__name__)

MAX_JOBS = 100
WORKERS_TIMEOUT = 1.0


def workers_list(timeout: float = WORKERS_TIMEOUT) -> list[dict[str, Any]]:
    """The workers that answer within ``timeout`` seconds, and the queues each reads."""
    from bakehouse.celery import app

    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception as exc:  # noqa: BLE001 - no broker: no workers to show
        logger.warning("system: could not ask the workers: %r", exc)
        return []
    return [
        {"name": name, "queues": sorted(q.get("name", "") for q in queues or [])}
        for name, queues in sorted(replies.items())
    ]


def queues_list() -> list[dict[str, Any]] | None:
    """Each declared queue's length; None when the broker does not answer."""
    try:
        return [{"name": name, "length": length} for name, length in queue_lengths().items()]
    except Exception as exc:  # noqa: BLE001
        logger.warning("system: could not read the queue lengths: %r", exc)
        return None


def active_jobs_list(limit: int = MAX_JOBS) -> list[dict[str, Any]]:
    """Running jobs first, then queued ones, oldest first, of every kind (at most ``limit``)."""
    rows: list[dict[str, Any]] = []
    for kind in registered_kinds():
        model = kind.model
        for job in model._default_manager.filter(status__in=Job.ACTIVE).order_by("created_at")[
            :limit
        ]:
            rows.append(
                {
                    "kind": str(model._meta.verbose_name),
                    "id": job.pk,
                    "status": job.status,
                    "worker": job.worker,
                    "attempts": job.attempts,
                    "created_at": job.created_at,
                    "started_at": job.started_at,
                    "heartbeat_at": job.heartbeat_at,
                }
            )
    rows.sort(key=lambda row: (row["status"] != Job.Status.RUNNING, row["created_at"]))
    return rows[:limit]


class _WorkerSerializer(serializers.Serializer):
    name = serializers.CharField()
    queues = serializers.ListField(child=serializers.CharField())


class _QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    length = serializers.IntegerField()


class _ActiveJobSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.IntegerField()
    status = serializers.CharField()
    worker = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)


class _HealthPartSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.CharField()
    broker = serializers.CharField()
    workers = serializers.IntegerField()


class SystemSerializer(serializers.Serializer):
    health = _HealthPartSerializer()
    workers = _WorkerSerializer(many=True)
    queues = _QueueSerializer(many=True, allow_null=True)
    jobs = _ActiveJobSerializer(many=True)


class SystemApi(APIView):
    """Staff only (403 for anybody else): workers, queues with their lengths, and the jobs
    queued or running. Takes about a second (the workers are asked each time)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=SystemSerializer)
    def get(self, request: Request) -> Response:
        health = platform_health()
        # A broker known to be down is not asked (each try would wait for its time-out).
        broker_down = str(health.get("broker", "")).startswith("down")
        payload = {
            "health": {k: health[k] for k in ("status", "database", "broker", "workers")},
            "workers": [] if broker_down else workers_list(),
            "queues": None if broker_down else queues_list(),
            "jobs": active_jobs_list(),
        }
        return Response(SystemSerializer(payload).data, headers={"Cache-Control": "no-store"})
