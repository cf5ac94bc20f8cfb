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
