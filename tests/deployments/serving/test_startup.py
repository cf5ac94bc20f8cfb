"""What a web worker does when it starts: loading the active deployments' models."""

from __future__ import annotations

import pytest

from apps.deployments.serving import warm_up
from apps.deployments.serving.registry import registry


@pytest.mark.django_db
def test_warm_up_loads_the_active_deployments(deployment):
    registry.unload_all()
    loaded = warm_up()
    assert loaded == [deployment.model_version_id]
    assert registry.loaded_versions() == [deployment.model_version_id]
