"""The Celery app. Workers: `celery -A bakehouse worker -Q default` and, for training,
`celery -A bakehouse worker -Q training --concurrency 1` (see apps.core.processes)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bakehouse.settings.local")

app = Celery("bakehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("training"))
app.autodiscover_tasks()


@app.task(name="core.ping", ignore_result=False)
def ping(value: str = "pong") -> str:
    """Round-trip check used by the tests and the health endpoint's documentation."""
    return value
