"""POST /api/v1/predict/<slug>/: bodies, answers and every error code."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from apps.core.fetch import FETCH_FAILED_MESSAGE
from apps.deployments.models import PredictionLog
from apps.deployments.services import api_key_create, deployment_create
from tests.deployments.conftest import LABELS, png_bytes, upload
from tests.local_http import allow_local, local_server, redirect, send

pytestmark = pytest.mark.django_db


def _url(deployment) -> str:
    return f"/api/v1/predict/{deployment.slug}/"


def _post_image(client, deployment, data: bytes, name: str = "photo.jpg"):
    return client.post(_url(deployment), {"image": upload(data, name)}, format="multipart")


def _assert_answer(body: dict, deployment) -> None:
    assert set(body) >= {
        "id",
        "deployment",
        "model_version",
        "prediction",
        "predictions",
        "uncertain",
        "latency_ms",
    }
    assert body["deployment"] == deployment.slug
    assert body["model_version"] == deployment.model_version_id
    confidences = [p["confidence"] for p in body["predictions"]]
    assert confidences == sorted(confidences, reverse=True)
    assert sorted(p["label"] for p in body["predictions"]) == sorted(LABELS)
    assert sum(confidences) == pytest.approx(1.0, abs=1e-5)
    assert body["prediction"] == body["predictions"][0]
    assert body["uncertain"] == (body["prediction"]["confidence"] < deployment.threshold)
    assert body["latency_ms"] > 0


# --- Bodies ----------------------------------------------------------------------------------


def test_multipart_image(key_client, deployment, ant_jpeg):
    response = _post_image(key_client, deployment, ant_jpeg)
    assert response.status_code == 200, response.content
    _assert_answer(response.json(), deployment)


def test_base64_json_and_data_url(key_client, deployment, ant_jpeg):
    plain = base64.b64encode(ant_jpeg).decode()
    first = key_client.post(_url(deployment), {"image_base64": plain}, format="json")
    assert first.status_code == 200, first.content
    second = key_client.post(
        _url(deployment), {"image_base64": f"data:image/jpeg;base64,{plain}"}, format="json"
    )
    assert second.status_code == 200
    assert second.json()["predictions"] == first.json()["predictions"]


def test_raw_image_body(key_client, deployment, ant_jpeg):
    response = key_client.post(_url(deployment), data=ant_jpeg, content_type="image/jpeg")
    assert response.status_code == 200, response.content
    multipart = _post_image(key_client, deployment, ant_jpeg).json()
    assert response.json()["predictions"] == multipart["predictions"]


def test_several_images_answer_in_input_order(key_client, deployment, hymenoptera):
    files = [
        sorted((hymenoptera / "val" / label).glob("*.jpg"))[i].read_bytes()
        for label, i in (("bees", 0), ("ants", 1), ("bees", 2), ("ants", 3))
    ]
    singles = [_post_image(key_client, deployment, data).json() for data in files]
    response = key_client.post(
        _url(deployment),
        {"images": [upload(data, f"{i}.jpg") for i, data in enumerate(files)]},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 4
    assert len({r["id"] for r in results}) == 4
    for single, result in zip(singles, results, strict=True):
        _assert_answer(result, deployment)
        assert result["prediction"]["label"] == single["prediction"]["label"]
        assert result["prediction"]["confidence"] == pytest.approx(
            single["prediction"]["confidence"], abs=1e-5
        )
    assert PredictionLog.objects.filter(deployment=deployment).count() == 8


def test_several_base64_images(key_client, deployment, ant_jpeg, bee_jpeg):
    encoded = [base64.b64encode(d).decode() for d in (bee_jpeg, ant_jpeg)]
    response = key_client.post(_url(deployment), {"images_base64": encoded}, format="json")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 2


def test_png_and_other_formats_are_decoded(key_client, deployment):
    response = _post_image(key_client, deployment, png_bytes(), "red.png")
    assert response.status_code == 200, response.content


def test_threshold_sets_uncertain(auth_client, key_client, deployment, ant_jpeg):
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 1.0}, format="json")
    assert _post_image(key_client, deployment, ant_jpeg).json()["uncertain"] is True
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 0.0}, format="json")
    assert _post_image(key_client, deployment, ant_jpeg).json()["uncertain"] is False


def test_url_body(key_client, deployment, ant_jpeg, settings):
    allow_local(settings)
    routes = {"/moved": redirect("/ant.jpg"), "/ant.jpg": send(200, ant_jpeg)}
    with local_server(routes) as server:
        response = key_client.post(_url(deployment), {"url": server.url("/moved")}, format="json")
        missing = key_client.post(_url(deployment), {"url": server.url("/x")}, format="json")
    assert response.status_code == 200, response.content
    assert server.seen == ["/moved", "/ant.jpg", "/x"]
    direct = _post_image(key_client, deployment, ant_jpeg).json()
    assert response.json()["predictions"] == direct["predictions"]

    # What went wrong (a 404 here) is in the server log only.
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "code": "fetch_failed",
        "message": FETCH_FAILED_MESSAGE,
    }


def test_url_too_large_is_413(key_client, deployment, settings):
    allow_local(settings)
    settings.PREDICT_MAX_IMAGE_BYTES = 1000
    with local_server({"/a.jpg": send(200, b"x" * 5000)}) as server:
        response = key_client.post(_url(deployment), {"url": server.url("/a.jpg")}, format="json")
    assert response.status_code == 413


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "file:///etc/passwd",
        "http://127.0.0.1/a.jpg",
        "http://[::1]/a",
        "http://[::ffff:127.0.0.1]/a",
        "http://2130706433/a",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_urls_that_must_not_be_fetched(key_client, deployment, url):
    response = key_client.post(_url(deployment), {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "fetch_failed"


# --- Errors ----------------------------------------------------------------------------------


def test_no_key_is_401(api_client, deployment, ant_jpeg):
    response = _post_image(api_client, deployment, ant_jpeg)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "header",
    ["Api-Key wrong.key", "Api-Key nodot", "Bearer {key}", "Api-Key {key}x", "Token {key}"],
)
def test_wrong_key_is_401(api_client, deployment, api_key, ant_jpeg, header):
    api_client.credentials(HTTP_AUTHORIZATION=header.format(key=api_key))
    response = _post_image(api_client, deployment, ant_jpeg)
    assert response.status_code == 401
    assert response.json()["error"]["message"]


def test_another_deployments_key_is_401(project, version, api_client, deployment, ant_jpeg):
    other = deployment_create(project=project, model_version_id=version.pk)
    _, other_key = api_key_create(deployment=other, name="other")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert _post_image(api_client, deployment, ant_jpeg).status_code == 401
    assert _post_image(api_client, other, ant_jpeg).status_code == 200


def test_unknown_slug_is_404(key_client, ant_jpeg):
    response = key_client.post(
        "/api/v1/predict/no-such-deployment/", {"image": upload(ant_jpeg)}, format="multipart"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_corrupt_image_is_400(key_client, deployment, ant_jpeg):
    response = _post_image(key_client, deployment, ant_jpeg[: len(ant_jpeg) // 2])
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "corrupt"
    assert "damaged" in body["message"]


def test_not_an_image_is_400(key_client, deployment):
    response = _post_image(key_client, deployment, b"hello, this is text\n" * 10, "notes.txt")
    assert response.status_code == 400
    assert "not an image" in response.json()["error"]["message"]


def test_one_bad_image_among_several_names_it(key_client, deployment, ant_jpeg):
    response = key_client.post(
        _url(deployment),
        {"images": [upload(ant_jpeg, "ok.jpg"), upload(b"%PDF-1.4 ...", "report.pdf")]},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Image 2 (report.pdf)")


@pytest.mark.parametrize("value", ["@@@not base64@@@", "aGVsbG8", 42, ""])
def test_bad_base64_is_400(key_client, deployment, value):
    response = key_client.post(_url(deployment), {"image_base64": value}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_no_image_is_400(key_client, deployment):
    response = key_client.post(_url(deployment), {"something": "else"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_image"


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/json", ""])
def test_an_empty_body_is_told_it_has_no_body(key_client, deployment, content_type):
    # It was answered as if it were JSON: 'The JSON body must have "image_base64"...'.
    response = key_client.generic(
        "POST", _url(deployment), b"", **({"CONTENT_TYPE": content_type} if content_type else {})
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_image"
    assert error["message"].startswith("The request has no body. Send an image:"), error


def test_too_large_file_is_413_before_decoding(key_client, deployment, settings, monkeypatch):
    settings.PREDICT_MAX_IMAGE_BYTES = 10_000
    from apps import ml

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded a file that is over the size limit")

    monkeypatch.setattr(ml, "open_image", must_not_decode, raising=False)
    monkeypatch.setattr(ml, "read_image_header", must_not_decode, raising=False)
    big = b"\xff\xd8" + b"\x00" * 20_000
    response = _post_image(key_client, deployment, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    encoded = base64.b64encode(big).decode()
    assert (
        key_client.post(_url(deployment), {"image_base64": encoded}, format="json").status_code
        == 413
    )
    assert key_client.post(_url(deployment), data=big, content_type="image/jpeg").status_code == 413


def test_too_large_request_is_413_from_content_length(key_client, deployment, settings, ant_jpeg):
    settings.PREDICT_MAX_REQUEST_BYTES = 1000
    response = _post_image(key_client, deployment, ant_jpeg)
    assert response.status_code == 413


def test_too_many_pixels_is_refused(key_client, deployment, settings):
    settings.MAX_IMAGE_PIXELS = 1000
    buffer = io.BytesIO()
    PILImage.new("RGB", (100, 100)).save(buffer, format="PNG")
    response = _post_image(key_client, deployment, buffer.getvalue(), "big.png")
    assert response.status_code == 413
    assert "megapixels" in response.json()["error"]["message"]


def test_too_many_images_is_400(key_client, deployment, settings):
    settings.PREDICT_MAX_IMAGES = 2
    files = [upload(png_bytes(), f"{i}.png") for i in range(3)]
    response = key_client.post(_url(deployment), {"images": files}, format="multipart")
    assert response.status_code == 400
    assert "At most 2 images" in response.json()["error"]["message"]


def test_rate_limit_is_429(auth_client, key_client, deployment, ant_jpeg):
    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"rate_limit": "2/min"}, format="json"
    )
    assert _post_image(key_client, deployment, ant_jpeg).status_code == 200
    assert _post_image(key_client, deployment, ant_jpeg).status_code == 200
    refused = _post_image(key_client, deployment, ant_jpeg)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert "2/min" in refused.json()["error"]["message"]
    assert 0 < int(refused["Retry-After"]) <= 60
    # Counted per deployment (every key together), not per client.
    _, second_key = api_key_create(deployment=deployment, name="second")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {second_key}")
    assert _post_image(client, deployment, ant_jpeg).status_code == 429


# --- Same answers as the training side -----------------------------------------------------


def test_probabilities_equal_the_torch_classifier(
    key_client, deployment, trained_models, hymenoptera
):
    """The endpoint (ONNX Runtime, serving path) answers what the trained torch model says for
    the same images, decoded and preprocessed the training way."""
    import torch

    from apps.ml import open_image, preprocess_batch

    paths = [
        *sorted((hymenoptera / "val" / "ants").glob("*.jpg"))[:4],
        *sorted((hymenoptera / "val" / "bees").glob("*.jpg"))[:4],
    ]
    files = [p.read_bytes() for p in paths]
    pictures = [open_image(data, max_pixels=40_000_000).image for data in files]
    with torch.inference_mode():
        expected = (
            trained_models["v1"].classifier(torch.from_numpy(preprocess_batch(pictures))).numpy()
        )

    response = key_client.post(
        _url(deployment),
        {"images": [upload(data, p.name) for data, p in zip(files, paths, strict=True)]},
        format="multipart",
    )
    assert response.status_code == 200
    served = np.array(
        [
            [
                next(p["confidence"] for p in r["predictions"] if p["label"] == label)
                for label in LABELS
            ]
            for r in response.json()["results"]
        ]
    )
    np.testing.assert_allclose(served, expected, atol=1e-4, rtol=0)
    # One image at a time gives the same numbers as the batch.
    single = _post_image(key_client, deployment, files[0]).json()
    assert single["prediction"]["confidence"] == pytest.approx(expected[0].max(), abs=1e-4)


# --- "Try it" ------------------------------------------------------------------------------


def test_try_it_for_the_owner(auth_client, deployment, ant_jpeg):
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/try/",
        {"image": upload(ant_jpeg)},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    _assert_answer(response.json(), deployment)
    row = PredictionLog.objects.get(uid=response.json()["id"])
    assert row.source == PredictionLog.Source.TRY


def test_try_it_for_others_is_404(other_client, api_client, deployment, ant_jpeg):
    url = f"/api/v1/deployments/{deployment.slug}/try/"
    assert (
        other_client.post(url, {"image": upload(ant_jpeg)}, format="multipart").status_code == 404
    )
    assert api_client.post(url, {"image": upload(ant_jpeg)}, format="multipart").status_code in (
        401,
        403,
    )


def test_refused_bodies_are_read_so_keep_alive_connections_stay_usable(settings):
    """gunicorn drops a keep-alive connection whose request body was left unread; a refused
    prediction reads what is left of it (except a body over the request size limit)."""
    from django.test import RequestFactory

    from apps.deployments.apis import _drain_unread_body

    body = b"x" * 300_000
    request = RequestFactory().post("/api/v1/predict/x/", data=body, content_type="image/jpeg")
    _drain_unread_body(request)
    assert request.read() == b""

    settings.PREDICT_MAX_REQUEST_BYTES = 1000
    request = RequestFactory().post("/api/v1/predict/x/", data=body, content_type="image/jpeg")
    _drain_unread_body(request)
    assert len(request.read()) == len(body)


def test_a_key_revoked_by_another_process_is_refused_at_once(
    key_client, deployment, api_key, ant_jpeg
):
    """This process has the key checked and cached; another web process revokes it (the row
    and the shared generation token change, this process's memory does not)."""
    from apps.deployments.models import DeploymentApiKey
    from apps.deployments.serving import GENERATION_KEY
    from apps.deployments.serving.store import store

    for _ in range(2):  # the second one takes the in-memory path
        assert _post_image(key_client, deployment, ant_jpeg).status_code == 200
    DeploymentApiKey.objects.filter(prefix=api_key.partition(".")[0]).update(revoked=True)
    store().set(GENERATION_KEY, "changed-elsewhere")
    assert _post_image(key_client, deployment, ant_jpeg).status_code == 401


def test_each_request_is_counted_once(auth_client, key_client, deployment, ant_jpeg):
    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"rate_limit": "3/min"}, format="json"
    )
    codes = [_post_image(key_client, deployment, ant_jpeg).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_wrong_keys_do_not_use_up_the_rate_limit(
    auth_client, api_client, key_client, deployment, ant_jpeg
):
    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"rate_limit": "2/min"}, format="json"
    )
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")
    for _ in range(5):
        assert _post_image(api_client, deployment, ant_jpeg).status_code == 401
    assert _post_image(key_client, deployment, ant_jpeg).status_code == 200


def test_a_switch_seen_by_another_thread_mid_request_is_not_missed(
    key_client,
    deployment,
    project,
    make_version,
    ant_jpeg,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """A request takes its cached snapshot, then reads the generation. If another thread of
    the process refreshed after a switch in between, the generation it reads is current,
    yet its snapshot is the old one: it must not answer with the old version once the
    switch has returned."""
    from apps.deployments.services import deployment_update
    from apps.deployments.serving import authentication
    from apps.deployments.serving.registry import registry

    assert _post_image(key_client, deployment, ant_jpeg).json()["model_version"] == (
        deployment.model_version_id
    )  # the old snapshot and the key are now cached in this process
    v2 = make_version(project, "v2")
    real_store = authentication.store()

    class StoreWithAThreadBetween:
        """The round trip during which the switch lands and another thread refreshes."""

        def __getattr__(self, name):
            return getattr(real_store, name)

        def get_and_incr(self, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                deployment_update(deployment=deployment, model_version_id=v2.pk)
            registry.refresh()
            registry.deployment(deployment.slug)
            monkeypatch.setattr(authentication, "store", lambda: real_store)
            return real_store.get_and_incr(*args, **kwargs)

    monkeypatch.setattr(authentication, "store", lambda: StoreWithAThreadBetween())
    response = _post_image(key_client, deployment, ant_jpeg)
    assert response.status_code == 200, response.content
    assert response.json()["model_version"] == v2.pk
