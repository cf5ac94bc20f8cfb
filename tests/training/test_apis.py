"""The training REST API: jobs and model versions, permissions and bad requests."""

from __future__ import annotations

import pytest

from apps.training.models import TrainingJob
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

JOB_FIELDS = {
    "id",
    "number",
    "project",
    "mode",
    "status",
    "progress",
    "stage",
    "metrics",
    "model_version",
    "error",
    "attempts",
    "created_at",
    "started_at",
    "finished_at",
}


@pytest.fixture
def no_dispatch(monkeypatch):
    """Jobs stay queued: the task is not sent (or run eagerly)."""
    sent = []
    from apps.training import tasks

    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **kw: sent.append(kw))
    return sent


def _jobs_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/training-jobs/"


def test_start_a_job(auth_client, labeled_project, no_dispatch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(_jobs_url(labeled_project), {"mode": "quick"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) >= JOB_FIELDS
    assert body["status"] == "queued" and body["mode"] == "quick"
    assert body["project"] == labeled_project.pk and body["progress"] == 0
    assert body["image_count"] == 6
    assert no_dispatch == [{"args": [body["id"]], "retry": False}]


def test_mode_defaults_to_quick(auth_client, labeled_project, no_dispatch):
    response = auth_client.post(_jobs_url(labeled_project), {}, format="json")
    assert response.status_code == 202
    assert response.json()["mode"] == "quick"


def test_list_and_detail(auth_client, labeled_project, no_dispatch):
    job_id = auth_client.post(_jobs_url(labeled_project), {}, format="json").json()["id"]
    listing = auth_client.get(_jobs_url(labeled_project))
    assert listing.status_code == 200
    assert [j["id"] for j in listing.json()["results"]] == [job_id]
    detail = auth_client.get(f"/api/v1/training-jobs/{job_id}/")
    assert detail.status_code == 200
    assert set(detail.json()) >= JOB_FIELDS


def test_runs_are_numbered_within_their_project(auth_client, labeled_project, user):
    # Ids count every project on the server: a user's first run showed as "#57".
    other = ProjectFactory(owner=user, name="Other", labels=["a", "b"])
    for _ in range(3):
        TrainingJob.objects.create(project=other, status=TrainingJob.Status.SUCCEEDED)
    for _ in range(2):
        TrainingJob.objects.create(project=labeled_project, status=TrainingJob.Status.SUCCEEDED)
        TrainingJob.objects.create(project=other, status=TrainingJob.Status.FAILED)
    listing = auth_client.get(_jobs_url(labeled_project), {"page_size": 1}).json()
    assert listing["count"] == 2
    assert [j["number"] for j in listing["results"]] == [2]  # the newest, on its page
    second_page = auth_client.get(_jobs_url(labeled_project), {"page_size": 1, "page": 2}).json()
    assert [j["number"] for j in second_page["results"]] == [1]
    newest = TrainingJob.objects.filter(project=labeled_project).latest("id")
    assert auth_client.get(f"/api/v1/training-jobs/{newest.pk}/").json()["number"] == 2
    assert [j["number"] for j in auth_client.get(_jobs_url(other)).json()["results"]] == [
        5,
        4,
        3,
        2,
        1,
    ]


def test_unknown_mode_is_a_400_sentence(auth_client, labeled_project):
    response = auth_client.post(_jobs_url(labeled_project), {"mode": "turbo"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_mode" and '"turbo"' in error["message"]
    assert '"fast", "accurate" or "finetune"' in error["message"]
    assert not TrainingJob.objects.exists()


def test_fast_is_accepted_for_quick(
    auth_client, labeled_project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = auth_client.post(_jobs_url(labeled_project), {"mode": "fast"}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["mode"] == "quick"


def test_too_little_data_is_a_400_naming_the_label(auth_client, project):
    from tests.factories import ImageFactory

    ImageFactory.create_batch(2, project=project, label="ants", split="train")
    response = auth_client.post(_jobs_url(project), {}, format="json")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert '"bees" has 0 images' in message
    assert not TrainingJob.objects.exists()


def test_second_job_is_a_409(auth_client, labeled_project, no_dispatch):
    assert auth_client.post(_jobs_url(labeled_project), {}, format="json").status_code == 202
    response = auth_client.post(_jobs_url(labeled_project), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_active"


def test_cancel(auth_client, labeled_project, no_dispatch):
    job_id = auth_client.post(_jobs_url(labeled_project), {}, format="json").json()["id"]
    response = auth_client.post(f"/api/v1/training-jobs/{job_id}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    again = auth_client.post(f"/api/v1/training-jobs/{job_id}/cancel/")
    assert again.status_code == 400
    assert "already finished" in again.json()["error"]["message"]


def test_other_users_get_404_everywhere(other_client, labeled_project, model_version, no_dispatch):
    job = TrainingJob.objects.create(project=labeled_project)
    urls = [
        ("get", _jobs_url(labeled_project)),
        ("post", _jobs_url(labeled_project)),
        ("get", f"/api/v1/training-jobs/{job.pk}/"),
        ("post", f"/api/v1/training-jobs/{job.pk}/cancel/"),
        ("get", f"/api/v1/projects/{labeled_project.pk}/models/"),
        ("get", f"/api/v1/models/{model_version.pk}/"),
        ("get", f"/api/v1/models/{model_version.pk}/download/?file=onnx"),
    ]
    for method, url in urls:
        response = getattr(other_client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
    job.refresh_from_db()
    assert job.status == "queued" and not job.cancel_requested
    assert TrainingJob.objects.count() == 2  # the fixture's and this one; none was added


def test_anonymous_requests_are_refused(api_client, labeled_project):
    assert api_client.get(_jobs_url(labeled_project)).status_code in (401, 403)
    assert api_client.post(_jobs_url(labeled_project), {}).status_code in (401, 403)


def test_missing_job_is_404(auth_client):
    assert auth_client.get("/api/v1/training-jobs/999999/").status_code == 404


# --- model versions ------------------------------------------------------------------------


def test_model_list_and_detail(auth_client, project, model_version):
    listing = auth_client.get(f"/api/v1/projects/{project.pk}/models/")
    assert listing.status_code == 200
    (row,) = listing.json()["results"]
    assert row["id"] == model_version.pk and row["number"] == 1
    assert row["labels"] == ["ants", "bees"] and row["metrics"]["accuracy"] == 0.9
    assert "snapshot" not in row
    assert set(row["downloads"]) == {"onnx", "head", "bundle"}  # no int8 file: no int8 link

    detail = auth_client.get(f"/api/v1/models/{model_version.pk}/")
    assert detail.status_code == 200
    assert detail.json()["snapshot"] == [{"id": 1, "label": "ants", "split": "train"}]


@pytest.mark.parametrize(("kind", "content"), [("onnx", b"onnx-bytes"), ("head", b"head-bytes")])
def test_download(auth_client, model_version, kind, content):
    response = auth_client.get(f"/api/v1/models/{model_version.pk}/download/?file={kind}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert "attachment" in response["Content-Disposition"]


def test_download_bad_requests(auth_client, model_version):
    bad = auth_client.get(f"/api/v1/models/{model_version.pk}/download/?file=weights")
    assert bad.status_code == 400
    assert "onnx" in bad.json()["error"]["message"]
    # A quick model has no whole-network file.
    none = auth_client.get(f"/api/v1/models/{model_version.pk}/download/?file=model")
    assert none.status_code == 404
    assert none.json()["error"]["code"] == "no_such_file"
