"""The per-process serving state behind the prediction API.

This process's registry is ``apps.deployments.serving.registry.registry`` (the package's
``registry`` is that module).

- ``registry``: this process's deployments, key checks and loaded models, and the shared
  *generation* token that tells every process when they changed;
- ``runner``: ``ModelRunner``, one loaded model version, batching concurrent requests;
- ``loading``: a model version's ONNX graph into ONNX Runtime;
- ``occupancy``: which web processes are serving a prediction right now (how many cores a
  call may take);
- ``throttling``: the deployment's rate limit;
- ``authentication``: ``Authorization: Api-Key <key>``;
- ``decoding``: a request's images decoded within its pixel budget;
- ``store``: the shared cache (Redis) those use on the prediction path;
- ``startup``: what a web worker does when it starts (imports, model warm-up).

Each model version is loaded twice when ``SERVING_THREADS`` > 1: with that many intra-op
threads, for a request that has the machine to itself, and with one, for calls while other
predictions are being served, in this process or another (``occupancy``): one request
alone gets every core, concurrent requests get one core each and do not fight over them.
"""

from apps.deployments.serving.authentication import (
    DeploymentApiKeyAuthentication,
    PredictionAuth,
)
from apps.deployments.serving.registry import (
    GENERATION_KEY,
    LiveDeployment,
    ServingRegistry,
    generation_bump,
    generation_publish,
)
from apps.deployments.serving.runner import ModelRunner
from apps.deployments.serving.startup import preload_modules, warm_up
from apps.deployments.serving.throttling import DeploymentRateThrottle, rate_limit_clean

__all__ = [
    "GENERATION_KEY",
    "DeploymentApiKeyAuthentication",
    "DeploymentRateThrottle",
    "LiveDeployment",
    "ModelRunner",
    "PredictionAuth",
    "ServingRegistry",
    "generation_bump",
    "generation_publish",
    "preload_modules",
    "rate_limit_clean",
    "warm_up",
]
