"""The OpenAPI schema: generated without a warning, precise where the frontend's types come
from it, and the API's answers match it (schemathesis, in-process over WSGI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

from tests.factories import ImageFactory, ProjectFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict[str, Any]:
    """The schema as `make api-types` generates it; a warning or an error fails here."""
    out = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def _operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def _json_schema(response: dict[str, Any]) -> dict[str, Any] | None:
    content = response.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    return media.get("schema") if media else None


def test_every_answer_has_a_schema(schema):
    for method, path, operation in _operations(schema):
        success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert success, f"{method.upper()} {path} documents no success answer"
        for code, response in success.items():
            if code == "204":
                assert "content" not in response, f"{method.upper()} {path}: 204 has no body"
                continue
            assert _json_schema(response), f"{method.upper()} {path} {code} has no schema"


def test_every_write_documents_its_body(schema):
    # Writes without a body: log-out, cancel, retry, recompute the data-health report, roll
    # back a deployment, promote its candidate, acknowledge a drift alert, check for drift
    # now, retrain now.
    bodiless = {
        ("post", "/api/v1/auth/logout/"),
        ("post", "/api/v1/projects/{project_id}/health/"),
        ("post", "/api/v1/training-jobs/{job_id}/cancel/"),
        ("post", "/api/v1/imports/{job_id}/retry/"),
        ("post", "/api/v1/deployments/{slug}/rollback/"),
        ("post", "/api/v1/deployments/{slug}/candidate/promote/"),
        ("post", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/test/"),
        ("post", "/api/v1/deployments/{slug}/monitoring/alerts/{alert_id}/acknowledge/"),
        ("post", "/api/v1/deployments/{slug}/monitoring/check/"),
        ("post", "/api/v1/projects/{project_id}/retraining/run/"),
    }
    for method, path, operation in _operations(schema):
        if method in ("post", "put", "patch") and (method, path) not in bodiless:
            assert operation.get("requestBody", {}).get("content"), f"{method.upper()} {path}"


def _free_form_objects(node: Any, where: str = "") -> list[str]:
    """Places where the schema says only "an object" (the frontend would get `unknown`)."""
    found = []
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and not node.get("properties")
            and node.get("additionalProperties", {}) in ({}, True)
        ):
            found.append(where)
        for key, value in node.items():
            found += _free_form_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _free_form_objects(value, f"{where}/{i}")
    return found


def test_no_answer_or_body_is_an_untyped_object(schema):
    assert _free_form_objects(schema["paths"]) == []
    assert _free_form_objects(schema["components"]["schemas"]) == []


def _ref(node: dict[str, Any]) -> str:
    """The component a property refers to (drf-spectacular wraps it in allOf when the
    property adds a default or a description)."""
    return node.get("$ref") or node["allOf"][0]["$ref"]


def test_key_operations_are_precise(schema):
    components = schema["components"]["schemas"]
    paths = schema["paths"]

    images = paths["/api/v1/projects/{project_id}/images/"]["get"]
    assert _json_schema(images["responses"]["200"]) == {
        "$ref": "#/components/schemas/PaginatedImageOutputList"
    }
    query = {p["name"]: p["schema"] for p in images["parameters"] if p["in"] == "query"}
    assert sorted(query["split"]["enum"]) == ["none", "test", "train", "val"]
    assert {"page", "page_size", "label", "unlabeled", "ordering"} <= set(query)

    project_in = components["ProjectInputRequest"]["properties"]
    assert project_in["name"]["maxLength"] == 200
    assert (project_in["target_value"]["minimum"], project_in["target_value"]["maximum"]) == (0, 1)
    assert _ref(project_in["task_type"]).endswith("/TaskTypeEnum")

    job = components["TrainingJobDetail"]["properties"]
    assert _ref(job["status"]).endswith("/JobStatusEnum")
    assert _ref(job["metrics"]).endswith("/TrainingMetrics")
    assert components["JobStatusEnum"]["enum"] == [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ]

    stats = paths["/api/v1/projects/{project_id}/stats/"]["get"]["responses"]["200"]
    assert _json_schema(stats) == {"$ref": "#/components/schemas/DatasetStats"}

    bulk = components["BulkLabelRequest"]["properties"]
    assert bulk["image_ids"]["maxItems"] == 10_000
    assert _ref(bulk["filter"]).endswith("/ImageFilterRequest")

    predict = paths["/api/v1/predict/{slug}/"]["post"]
    assert set(predict["requestBody"]["content"]) >= {"multipart/form-data", "application/json"}
    assert _json_schema(predict["responses"]["200"]) == {
        "$ref": "#/components/schemas/PredictionResult"
    }
    assert _ref(components["PredictionAnswer"]["properties"]["prediction"]).endswith("/LabelScore")

    me = paths["/api/v1/auth/me/"]["get"]["responses"]["200"]
    assert _json_schema(me) == {"$ref": "#/components/schemas/Me"}


def test_committed_frontend_types_name_every_schema(schema):
    """A cheap guard beside `make api-types-check` (which needs npm): the committed
    TypeScript file has a type for every component of the current schema."""
    committed = (ROOT / "frontend/src/api/schema.d.ts").read_text()
    missing = [
        name for name in schema["components"]["schemas"] if f"        {name}: " not in committed
    ]
    assert missing == [], "run `make api-types`"


# --- The answers match the schema ---------------------------------------------------------

# Read-only operations over real rows: a project with labels and images of every split.
CONFORMANCE = [
    ("GET", "/api/v1/auth/me/"),
    ("GET", "/api/v1/auth/config/"),
    ("GET", "/api/v1/projects/"),
    ("GET", "/api/v1/projects/{project_id}/"),
    ("GET", "/api/v1/projects/{project_id}/labels/"),
    ("GET", "/api/v1/projects/{project_id}/images/"),
    ("GET", "/api/v1/projects/{project_id}/images/{image_id}/"),
    ("GET", "/api/v1/projects/{project_id}/images/{image_id}/history/"),
    ("GET", "/api/v1/projects/{project_id}/stats/"),
    ("GET", "/api/v1/projects/{project_id}/imports/"),
    ("GET", "/api/v1/projects/{project_id}/training-jobs/"),
    ("GET", "/api/v1/projects/{project_id}/models/"),
    ("GET", "/api/v1/projects/{project_id}/deployments/"),
]


@pytest.fixture
def seeded(db, user):
    project = ProjectFactory(owner=user, labels=["ants", "bees"])
    image = ImageFactory(project=project, label="ants", split="train")
    ImageFactory(project=project, label="bees", split="val")
    ImageFactory(project=project, label=None)
    token, _ = Token.objects.get_or_create(user=user)
    return {"project_id": project.id, "image_id": image.id, "token": token.key}


@pytest.fixture
def connections_kept_open():
    """Keep the test's database connection across in-process WSGI requests, as Django's
    test client does: at the end of each request Django closes a connection that is not in
    autocommit mode (at the start too), and inside the test's transaction it is not (on PostgreSQL that closes
    the connection the test runs in; SQLite's in-memory database ignores it)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_answers_conform_to_the_schema(seeded, connections_kept_open):
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    from bakehouse.wsgi import application

    api = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    headers = {"Authorization": f"Token {seeded['token']}"}
    # Not status_code_conformance: error answers (400, 404 for a page past the end...) share
    # one shape, {"error": {...}}, that the schema does not list per operation.
    checks = [not_a_server_error, content_type_conformance, response_schema_conformance]
    for method, path in CONFORMANCE:
        operation = api[path][method]
        names = [p["name"] for p in _path_parameters(path)]
        strategy = operation.as_strategy(
            path_parameters={name: seeded[name] for name in names}, headers=headers
        )

        @given(case=strategy)
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            case.call_and_validate(checks=checks)

        call()


def _path_parameters(path: str) -> list[dict[str, str]]:
    return [{"name": part[1:-1]} for part in path.split("/") if part.startswith("{")]
