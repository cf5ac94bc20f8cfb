"""The Celery app. Workers: `celery -A bakehouse worker -Q default` and, for training,
`celery -A bakehouse worker -Q training --concurrency 1` (see apps.core.processes).

Its configuration is the ``CELERY_*`` settings (bakehouse/settings/base.py), queues included:
every task names its queue and time limits, and a task sent to an undeclared queue fails.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bakehouse.settings.local")

app = Celery("bakehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="core.ping", ignore_result=False, soft_time_limit=10, time_limit=20)
def ping(value: str = "pong") -> str:
    """Round-trip check used by the tests and the health endpoint's documentation."""
    return value
