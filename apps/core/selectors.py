"""Reads about the platform itself (health)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        logger.warning("health: database down: %s", exc)
        return f"down: {exc.__class__.__name__}"
    return "ok"


def broker_status(timeout: float = 2.0) -> str:
    from bakehouse.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: broker down: %s", exc)
        return f"down: {exc.__class__.__name__}"
    return "ok"


def worker_count(timeout: float = 1.0) -> int:
    from bakehouse.celery import app

    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001
        return 0
    return len(replies)


def platform_health() -> dict[str, Any]:
    database = database_status()
    broker = broker_status()
    workers = worker_count() if broker == "ok" else 0
    healthy = database == "ok" and broker == "ok"
    return {
        "status": "ok" if healthy else "down",
        "database": database,
        "broker": broker,
        "workers": workers,
    }


def stored_file_visible_to(*, user: Any, name: str) -> bool:
    """May ``user`` read the stored file ``name`` (a path under the media root)?

    Every stored file lives under its owner's folder: ``projects/<id>/...`` (a project's
    images and model files) or ``predictions/<deployment slug>/...`` (the images of a
    deployment's prediction log). ``name`` must already be normalised (no ``..``).
    """
    if not getattr(user, "is_authenticated", False):
        return False
    parts = name.split("/")
    if len(parts) < 3 or not parts[2]:
        return False
    folder, key = parts[0], parts[1]
    if folder == "projects" and key.isdigit():
        from apps.projects.models import Project

        return Project.objects.filter(pk=int(key), owner=user).exists()
    if folder == "predictions":
        from apps.deployments.models import Deployment

        return Deployment.objects.filter(slug=key, project__owner=user).exists()
    return False
