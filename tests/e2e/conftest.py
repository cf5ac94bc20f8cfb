"""End-to-end tests: the real platform (web + Celery workers + beat + broker) started by
the same `Platform` class `make up` uses, on a free port, in a temporary var/ folder.

On the full stack (DATABASE_URL / REDIS_URL / AWS_STORAGE_BUCKET_NAME set) the platform
gets its own PostgreSQL database, Redis database number and S3 bucket, created here and
dropped afterwards.

``worker_hosts`` starts the workers as separate "hosts" instead (see ``WorkerHost``): each
with its own var/ folder and ML cache, sharing only the database, Redis and S3.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apps.core.processes import Platform, PlatformConfig, free_port

FULL_STACK = (
    os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    and bool(os.environ.get("REDIS_URL"))
    and bool(os.environ.get("AWS_STORAGE_BUCKET_NAME"))
)
full_stack_only = pytest.mark.skipif(
    not FULL_STACK,
    reason="needs the full stack: DATABASE_URL (PostgreSQL), REDIS_URL and "
    "AWS_STORAGE_BUCKET_NAME (S3, e.g. moto in server mode) - .ci/run's second pass sets them",
)


@dataclass(frozen=True)
class WorkerHost:
    """A worker "machine": its own var/ folder and ML cache, both under ``root``."""

    name: str
    root: Path
    queues: tuple[str, ...] = ("default", "training")
    concurrency: int = 1

    def env(self) -> dict[str, str]:
        return {
            "BAKEHOUSE_VAR_DIR": str(self.root / "var"),
            "BAKEHOUSE_ML_CACHE": str(self.root / "ml-cache"),
        }


@dataclass
class LivePlatform:
    platform: Platform
    url: str
    var_dir: Path

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def signup(
        self, username: str | None = None, password: str = "a-long-enough-pass-42"
    ) -> httpx.Client:
        """A new user; returns a client authenticated with the user's API token."""
        username = username or f"user-{uuid.uuid4().hex[:8]}"
        with self.client() as anonymous:
            response = anonymous.post(
                "/api/v1/auth/signup/", json={"username": username, "password": password}
            )
        assert response.status_code == 201, response.text
        return self.client(response.json()["token"])

    def log(self, name: str) -> str:
        path = self.var_dir / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _s3_bucket() -> tuple[str, callable]:
    """Create a throw-away bucket on AWS_S3_ENDPOINT_URL's server; return it and a dropper."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ.get("AWS_S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_S3_REGION_NAME") or None,
    )
    name = f"bakehouse-e2e-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)

    def drop() -> None:
        with contextlib.suppress(Exception):  # best effort: the server is thrown away too
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=name, Delete={"Objects": keys})
            s3.delete_bucket(Bucket=name)

    return name, drop


def _postgres_database(database_url: str) -> tuple[str, callable]:
    """Create a throw-away database next to DATABASE_URL's; return its URL and a dropper."""
    import environ
    import psycopg2

    cfg = environ.Env.db_url_config(database_url)
    name = f"bakehouse_e2e_{uuid.uuid4().hex[:10]}"
    params = {
        "host": cfg.get("HOST") or "127.0.0.1",
        "port": cfg.get("PORT") or 5432,
        "user": cfg.get("USER") or "postgres",
        "password": cfg.get("PASSWORD") or None,
        "dbname": cfg.get("NAME") or "postgres",
    }
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    auth = params["user"] + (f":{params['password']}" if params["password"] else "")
    url = f"postgres://{auth}@{params['host']}:{params['port']}/{name}"

    def drop() -> None:
        conn = psycopg2.connect(**params)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()

    return url, drop


# Redis database numbers for the platforms a test session starts (0 is left to the developer).
_REDIS_DATABASES = itertools.cycle(range(15, 7, -1))


def start_live_platform(
    var_dir: Path, *, worker_hosts: tuple[WorkerHost, ...] = (), **overrides
) -> tuple[LivePlatform, callable]:
    extra_env = {
        # Dead workers are noticed within seconds in tests (the defaults are minutes).
        "BAKEHOUSE_JOB_STALE_AFTER": "8",
        "BAKEHOUSE_JOB_HEARTBEAT": "1",
        "BAKEHOUSE_REAPER_INTERVAL": "2",
        "DEBUG": "false",
    }
    extra_env.update(overrides.pop("extra_env", {}))
    cleanups = []
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        url, drop = _postgres_database(database_url)
        extra_env["DATABASE_URL"] = url
        cleanups.append(drop)
    redis_url = os.environ.get("REDIS_URL") or None
    if redis_url:
        import redis

        # A database number of its own, emptied first: no stale messages from other runs,
        # and two platforms alive at once (the session's shared one and a test's own) never
        # take each other's tasks: a worker would look the job up in the other database.
        redis_url = redis_url.rsplit("/", 1)[0] + f"/{next(_REDIS_DATABASES)}"
        redis.Redis.from_url(redis_url).flushdb()
    if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
        # A bucket of its own: platforms of one session number their projects from 1 each,
        # and deleting projects/1/ in one must not touch another's files.
        bucket, drop_bucket = _s3_bucket()
        extra_env["AWS_STORAGE_BUCKET_NAME"] = bucket
        cleanups.append(drop_bucket)
    if worker_hosts:
        # Several machines share one secret key (each would make its own under its var/).
        extra_env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        overrides["local_workers"] = False
    config = PlatformConfig(
        port=free_port(),
        var_dir=var_dir,
        redis_url=redis_url,
        log_to_files=True,
        restart_crashed=False,
        extra_env=extra_env,
        **overrides,
    )
    platform = Platform(config)
    platform.prepare()
    try:
        platform.start()
        for host in worker_hosts:
            for queue in host.queues:
                platform.add_worker(
                    queue, host=host.name, env=host.env(), concurrency=host.concurrency
                )
        platform.workers_ready(timeout=120.0 if worker_hosts else 60.0)
    except Exception:
        platform.stop()
        for cleanup in cleanups:
            cleanup()
        raise

    def stop() -> None:
        platform.stop()
        for cleanup in cleanups:
            cleanup()

    return LivePlatform(platform=platform, url=platform.url, var_dir=var_dir), stop
