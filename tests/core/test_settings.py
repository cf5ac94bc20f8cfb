"""Settings on both stacks, read in a fresh interpreter with a given environment."""

import json
import os
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["LOCATION"],
    "storage": settings.STORAGES["default"]["BACKEND"],
    "media": str(settings.MEDIA_ROOT),
    "debug": settings.DEBUG,
    "embedded": settings.EMBEDDED_REDIS,
}))
"""


def read_settings(tmp_path, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "AWS_", "DJANGO_SETTINGS"))
    }
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "bakehouse.settings.local", "BAKEHOUSE_VAR_DIR": str(tmp_path)}
    )
    clean.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_embedded_defaults(tmp_path):
    s = read_settings(tmp_path)
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(tmp_path / "bakehouse.sqlite3")
    assert s["broker"] == f"redis+socket://{tmp_path}/run/redis.sock"
    assert s["cache"] == f"unix://{tmp_path}/run/redis.sock"
    assert s["storage"] == "django.core.files.storage.FileSystemStorage"
    assert s["media"] == str(tmp_path / "media")
    assert s["debug"] is False and s["embedded"] is True
    # The dev secret is generated once and kept.
    secret = (tmp_path / "secret_key").read_text()
    assert len(secret) > 40
    read_settings(tmp_path)
    assert (tmp_path / "secret_key").read_text() == secret


def test_full_stack_from_environment(tmp_path):
    s = read_settings(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        AWS_STORAGE_BUCKET_NAME="bakehouse-media",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        DEBUG="true",
    )
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "test"
    assert s["broker"] == "redis://127.0.0.1:6379/0"
    assert s["cache"] == "redis://127.0.0.1:6379/0"
    assert s["storage"] == "storages.backends.s3.S3Storage"
    assert s["debug"] is True and s["embedded"] is False


def test_production_settings_pass_check_deploy(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bakehouse.settings.production",
            "BAKEHOUSE_VAR_DIR": str(tmp_path),
            "SECRET_KEY": "x7!" + "k2Jq9#Lm" * 8,
            "ALLOWED_HOSTS": "bakehouse.example.com",
        }
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def _python_files(*folders: str):
    for folder in folders:
        yield from sorted((REPO_ROOT / folder).rglob("*.py"))


def test_settings_are_read_as_declared_attributes():
    """``getattr(settings, NAME, default)`` hides a setting nobody declared (and a typo in
    its name): every setting is declared once in bakehouse/settings and read as
    ``settings.NAME``."""
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in _python_files("apps", "bakehouse")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"getattr\(\s*(django_)?settings\s*,", line)
    ]
    assert offenders == []


def test_every_environment_variable_is_in_env_example():
    """Each variable the settings read (``env.int("BAKEHOUSE_...")`` and the like) is listed,
    with its default, in platform/env.example."""
    read = set()
    for path in _python_files("bakehouse/settings"):
        read |= set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', path.read_text()))
    example = (REPO_ROOT / "platform" / "env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert read, "no env reads found: the pattern is out of date"
    assert sorted(read - listed) == []


def test_containers_run_the_production_settings():
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "DJANGO_SETTINGS_MODULE: ${DJANGO_SETTINGS_MODULE:-bakehouse.settings.production}" in (
        compose
    )
    assert "bakehouse.settings.local" not in compose


def test_production_believes_no_forwarded_proto_by_default(tmp_path):
    """X-Forwarded-Proto used to be believed from anybody (SECURE_PROXY_SSL_HEADER): now
    only from BAKEHOUSE_TRUSTED_PROXIES (apps.core.middleware), none by default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_SETTINGS")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bakehouse.settings.production",
            "BAKEHOUSE_VAR_DIR": str(tmp_path),
            "SECRET_KEY": "x7!" + "k2Jq9#Lm" * 8,
        }
    )
    probe = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.SECURE_PROXY_SSL_HEADER, settings.TRUSTED_PROXIES, "
        "settings.MIDDLEWARE[0]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    header, trusted, first = json.loads(out.stdout.strip().splitlines()[-1])
    assert (header, trusted) == (None, [])
    assert first == "apps.core.middleware.TrustedProxyMiddleware"
