"""The deployment fixtures (real model versions, a deployment) for the retraining tests."""

from tests.deployments.conftest import (  # noqa: F401
    _fresh_serving_state,
    deployment,
    make_version,
    project,
    trained_models,
    version,
)
