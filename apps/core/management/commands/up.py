"""`manage.py up`: the whole platform on one machine (what `make up` runs)."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.processes import Platform, PlatformConfig, port_in_use


class Command(BaseCommand):
    help = "Start Redis (embedded unless REDIS_URL is set), the Celery workers and the web server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s [up] %(message)s")
        var_dir = settings.VAR_DIR
        lock_path = var_dir / "run" / "up.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a+")  # noqa: SIM115 - held for the process's lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.seek(0)
            raise CommandError(
                f"Bakehouse is already running from this folder ({lock.read().strip()}). "
                "Stop it with Ctrl-C in its terminal first."
            ) from exc
        if port_in_use(port, host):
            raise CommandError(f"Port {port} is taken by another program. Try: PORT=8001 make up")
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}, http://{host}:{port}")
        lock.flush()

        platform = Platform(
            PlatformConfig(
                port=port,
                host=host,
                var_dir=var_dir,
                settings_module=os.environ.get(
                    "DJANGO_SETTINGS_MODULE", "bakehouse.settings.local"
                ),
                redis_url=settings.REDIS_URL or None,
            )
        )
        stopping = False

        def request_stop(signum, frame) -> None:  # noqa: ARG001
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        self.stdout.write("Preparing the database and static files ...")
        platform.prepare()
        try:
            platform.start()
            broker = "embedded Redis" if settings.EMBEDDED_REDIS else settings.REDIS_URL
            database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
            self.stdout.write(
                self.style.SUCCESS(f"\nBakehouse is running at {platform.url}\n")
                + f"  database: {database}, broker: {broker}, media: {settings.MEDIA_ROOT}\n"
                + f"  Create your first account at {platform.url}/signup (or run "
                + "`.venv/bin/python manage.py createsuperuser`).\n"
                + f"  API docs: {platform.url}/api/docs/   Stop: Ctrl-C\n"
            )
            # stdout is block-buffered when it is not a terminal (a log file, a container):
            # the URL must show up as soon as the platform is up, not at exit.
            self.stdout.flush()
            while not stopping:
                for name in platform.supervise_once():
                    self.stderr.write(
                        self.style.ERROR(f"{name} crashed; restarting it (see the log above).")
                    )
                time.sleep(0.5)
        finally:
            self.stdout.write("\nStopping Bakehouse ...")
            platform.stop()
            lock.close()
            self.stdout.write("Stopped.")
