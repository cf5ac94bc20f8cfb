"""Every task of ours names its queue (in CELERY_TASK_ROUTES), a declared one, and time
limits; a message to an undeclared queue is refused rather than left unread."""

from __future__ import annotations

from django.conf import settings

from bakehouse.celery import app

# Task names start with their app's label: "training.run_job".
OURS = tuple(
    f"{name.rsplit('.', 1)[-1]}." for name in settings.INSTALLED_APPS if name.startswith("apps.")
)


def _our_tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(OURS)}


def test_every_task_is_routed_to_a_declared_queue_with_time_limits():
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    tasks = _our_tasks()
    assert {"training.run_job", "datasets.run_import", "core.reap_stale_jobs"} <= set(tasks)
    for name, task in tasks.items():
        route = settings.CELERY_TASK_ROUTES.get(name)
        assert route, f"{name} has no queue in CELERY_TASK_ROUTES"
        assert route["queue"] in declared, name
        assert task.soft_time_limit and task.time_limit, f"{name} has no time limits"
        assert task.time_limit > task.soft_time_limit, name


def test_training_has_its_own_queue_and_routes_name_only_real_tasks():
    assert settings.CELERY_TASK_ROUTES["training.run_job"] == {"queue": "training"}
    assert set(settings.CELERY_TASK_ROUTES) <= set(_our_tasks())
    assert settings.CELERY_TASK_CREATE_MISSING_QUEUES is False
