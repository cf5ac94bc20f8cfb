"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

REPO_ROOT = Path(__file__).resolve().parent.parent
HYMENOPTERA = (REPO_ROOT.parent / "shared" / "datasets" / "hymenoptera").resolve()

# The full stack's media storage: an S3-compatible server (CI starts moto in server mode).
# Unset: media on the local file system, as on the embedded stack.
S3_BUCKET = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
# For tests of what only the embedded stack has: Django serving /media/ from MEDIA_ROOT.
embedded_media_only = pytest.mark.skipif(
    bool(S3_BUCKET),
    reason="media on S3: files are signed bucket URLs, /media/ is only served on the "
    "embedded stack (SERVE_MEDIA)",
)


def stored_file_url(name: str) -> str:
    """The absolute URL the API gives for a stored file, less a signature's query string:
    http://testserver/media/<name> on the embedded stack, the bucket's URL on S3."""
    from django.core.files.storage import default_storage

    url = default_storage.url(name).split("?", 1)[0]
    return f"http://testserver{url}" if url.startswith("/") else url


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test writes its files into its own folder (on S3: a key prefix of its own)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    if S3_BUCKET:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {"location": f"tests/{uuid.uuid4().hex}"},
            },
        }


@pytest.fixture
def hymenoptera() -> Path:
    if not HYMENOPTERA.exists():
        pytest.fail(f"the shared data set is missing at {HYMENOPTERA}")
    return HYMENOPTERA


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="s3cret-pass-1")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="s3cret-pass-2")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def auth_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def other_client(other_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(other_user)
    return client


@pytest.fixture(scope="session")
def live_platform(tmp_path_factory):
    """The real platform (web, workers, beat, broker), started once for every end-to-end and
    browser test of the session."""
    from tests.e2e.conftest import start_live_platform

    live, stop = start_live_platform(tmp_path_factory.mktemp("platform") / "var")
    try:
        yield live
    finally:
        stop()
