"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

REPO_ROOT = Path(__file__).resolve().parent.parent
HYMENOPTERA = (REPO_ROOT.parent / "shared" / "datasets" / "hymenoptera").resolve()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test writes its files into its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


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
