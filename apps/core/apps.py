import logging
import socket

from django.apps import AppConfig

logger = logging.getLogger(__name__)


def _reclaim_jobs_of_dead_processes(**_kwargs) -> None:
    """A worker that (re)starts takes back at once the jobs its dead processes held,
    instead of waiting for their heartbeats to go stale."""
    from django.db import connections

    from apps.core.jobs import jobs_reclaim_dead_on_host

    try:
        reclaimed = jobs_reclaim_dead_on_host(socket.gethostname())
        if reclaimed:
            logger.warning("re-queued %s job(s) of dead worker processes", reclaimed)
    except Exception:  # noqa: BLE001 - the reaper catches up later; the worker must start
        logger.warning("could not reclaim the jobs of dead worker processes", exc_info=True)
    finally:
        # The main worker process forks new pool processes later: no shared connection.
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from celery.signals import worker_ready

        worker_ready.connect(
            _reclaim_jobs_of_dead_processes, weak=False, dispatch_uid="core.reclaim_dead_jobs"
        )
