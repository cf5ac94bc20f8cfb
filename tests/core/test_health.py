import pytest


@pytest.mark.django_db
def test_health_without_broker_is_503_and_names_it(api_client, settings, tmp_path):
    from bakehouse.celery import app

    app.conf.broker_url = f"redis+socket://{tmp_path}/nothing-here.sock"
    try:
        response = api_client.get("/api/v1/health/")
    finally:
        app.conf.broker_url = settings.CELERY_BROKER_URL
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")
    assert body["workers"] == 0
    assert body["message"] == "broker unavailable"
