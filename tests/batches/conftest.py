"""Fixtures for the batch tests: the deployment tests' real models, deployment and API key
(``tests.deployments.conftest``), and zips of real photos."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.deployments.conftest import (  # noqa: F401 - fixtures used by these tests
    _fresh_serving_state,
    api_key,
    deployment,
    key_client,
    make_version,
    project,
    trained_models,
    version,
)


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def photos(hymenoptera) -> dict[str, bytes]:
    """Six real photos, three ants and three bees, by their path in a zip."""
    found = {}
    for label in ("ants", "bees"):
        for path in sorted((hymenoptera / "val" / label).glob("*.jpg"))[:3]:
            found[f"{label}/{path.name}"] = path.read_bytes()
    return found
