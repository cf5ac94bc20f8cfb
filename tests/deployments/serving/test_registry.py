"""The serving registry: cached snapshots and key checks, the generation, loading models."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.deployments.serving import ServingRegistry
from apps.deployments.serving import registry as registry_module
from apps.deployments.serving.registry import registry


@pytest.mark.django_db
def test_deployment_snapshot_is_cached_until_a_change(
    deployment, make_version, project, django_capture_on_commit_callbacks
):
    from apps.deployments.services import deployment_update

    other_process = ServingRegistry()
    other_process.refresh()
    before = other_process.deployment(deployment.slug)
    assert before.model_version_id == deployment.model_version_id
    v2 = make_version(project, "v2")
    other_process.refresh()
    assert other_process.deployment(deployment.slug) is before  # cached: no change yet
    with django_capture_on_commit_callbacks(execute=True):
        deployment_update(deployment=deployment, model_version_id=v2.pk)
    other_process.refresh()
    after = other_process.deployment(deployment.slug)
    assert after.model_version_id == v2.pk
    assert before.model_version_id != after.model_version_id  # snapshots are immutable


@pytest.mark.django_db
def test_a_version_is_loaded_once_under_concurrent_first_requests(deployment, monkeypatch):
    from apps.deployments.serving import loading

    registry.unload_all()
    calls = []
    real = loading.load_predictors

    def counting(**kwargs):
        calls.append(kwargs)
        time.sleep(0.05)
        return real(**kwargs)

    monkeypatch.setattr(loading, "load_predictors", counting)
    registry.refresh()
    live = registry.deployment(deployment.slug)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runners = list(pool.map(lambda _: registry.runner(live), range(4)))
    assert len(calls) == 1
    assert all(r is runners[0] for r in runners)


@pytest.mark.django_db
def test_the_least_recently_used_model_is_unloaded_first(
    deployment, project, make_version, settings, monkeypatch
):
    """Past SERVING_MAX_LOADED_MODELS, the model unused the longest goes, not the one that
    was loaded first (it used to be: a busy deployment's model was dropped and reloaded)."""
    from apps.deployments.serving import loading

    settings.SERVING_MAX_LOADED_MODELS = 2
    monkeypatch.setattr(loading, "load_predictors", lambda **kwargs: (object(), None))
    versions = [make_version(project, "v1") for _ in range(3)]

    def use(version):
        return registry.runner_for(
            version_id=version.pk,
            onnx_name=version.onnx_file.name,
            labels=tuple(version.labels),
            backbone=version.backbone,
        )

    registry.unload_all()
    busy = use(versions[0])
    use(versions[1])
    assert use(versions[0]) is busy  # used again: now the most recent
    use(versions[2])
    assert registry.loaded_versions() == [versions[0].pk, versions[2].pk]
    assert use(versions[0]) is busy  # never reloaded


def _cached_in(other_process: ServingRegistry, deployment, key: str):
    other_process.refresh()
    live = other_process.deployment(deployment.slug)
    assert live is not None and other_process.key_matches(live, key)
    return live


@pytest.mark.django_db
def test_a_deleted_deployment_stops_answering_in_other_processes_at_once(
    deployment, api_key, django_capture_on_commit_callbacks
):
    from apps.deployments.services import deployment_delete

    other_process = ServingRegistry()
    _cached_in(other_process, deployment, api_key)
    with django_capture_on_commit_callbacks(execute=True):
        deployment_delete(deployment=deployment)
    other_process.refresh()
    assert other_process.deployment(deployment.slug) is None


@pytest.mark.django_db
def test_a_deleted_project_stops_its_deployments_in_every_process(
    deployment, api_key, project, key_client, ant_jpeg, django_capture_on_commit_callbacks
):
    """Deleting the project (apps.projects) goes through the core hook ``project_deleting``:
    the deployments go, every process learns it from the generation, their stored
    prediction images are deleted after the commit. It used to bump nothing: other
    processes kept answering for up to 30 seconds."""
    from django.core.files.storage import default_storage

    from apps.deployments.models import Deployment, PredictionLog
    from apps.projects.services import project_delete

    answer = key_client.post(
        f"/api/v1/predict/{deployment.slug}/", data=ant_jpeg, content_type="image/jpeg"
    ).json()
    image = PredictionLog.objects.get(uid=answer["id"]).image.name
    assert default_storage.exists(image)
    other_process = ServingRegistry()
    _cached_in(other_process, deployment, api_key)
    with django_capture_on_commit_callbacks(execute=True):
        project_delete(project=project)
    assert not Deployment.objects.exists()
    other_process.refresh()
    assert other_process.deployment(deployment.slug) is None
    assert not default_storage.exists(image)


@pytest.mark.django_db
def test_a_change_that_cannot_be_published_is_refused(auth_client, deployment, monkeypatch):
    """With the shared cache down, a revocation could not reach the other processes: the
    change is refused (503, rolled back) rather than made in the database only."""
    from apps.deployments.models import Deployment

    class Down:
        def set(self, *args, **kwargs):
            raise ConnectionError("cache down")

    monkeypatch.setattr(registry_module, "store", lambda: Down())
    response = auth_client.delete(f"/api/v1/deployments/{deployment.slug}/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "cache_unavailable"
    assert Deployment.objects.filter(pk=deployment.pk).exists()
