"""The drift check: an unshifted window stays ok, a shifted one opens an alert (announced
once, through on_drift_alert and the drift.alert webhook event), a second run does nothing,
acknowledging closes it; the thresholds are checked."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_drift_alert
from apps.monitoring.models import DriftAlert, MonitoringSettings
from apps.monitoring.services import (
    drift_alert_acknowledge,
    drift_check,
    monitoring_settings_update,
)
from apps.monitoring.tasks import check_drift
from tests.monitoring.conftest import embeddings

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced():
    calls = []

    def receiver(*, alert, **_):
        calls.append(alert)

    on_drift_alert.connect(receiver)
    yield calls
    on_drift_alert.disconnect(receiver)


def test_an_unshifted_window_is_ok_and_opens_no_alert(monitored, log_predictions, announced):
    log_predictions(embeddings(np.random.default_rng(1), 400))
    assert drift_check(deployment_id=monitored.pk) is None
    state = MonitoringSettings.objects.get(deployment=monitored)
    assert state.status == "ok" and state.p_value > 0.005 and state.window_size == 400
    assert [t["name"] for t in state.tests][0] == "combined"
    assert not DriftAlert.objects.exists() and announced == []


def test_a_shifted_window_alerts_once_with_samples_and_a_webhook_event(
    monitored, log_predictions, announced, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.webhooks import events

    sent = []
    monkeypatch.setattr(events, "event_emit", lambda **kwargs: sent.append(kwargs))
    rng = np.random.default_rng(2)
    features = np.concatenate([embeddings(rng, 320), embeddings(rng, 80, shift=4.0)])
    log_predictions(features[rng.permutation(400)])
    with django_capture_on_commit_callbacks(execute=True):
        alert = drift_check(deployment_id=monitored.pk)
    assert alert is not None and alert.status == "alert" and alert.p_value < 0.005
    assert alert.window == 400 and len(alert.sample_prediction_uids) == 8
    assert announced == [alert]
    assert sent[0]["event_type"] == "drift.alert"
    assert sent[0]["data"]["drift"]["status"] == "alert"
    assert "drift on deployment" in sent[0]["text"]
    # Nothing new since: a second run (beat firing twice) changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert drift_check(deployment_id=monitored.pk) is None
    assert DriftAlert.objects.count() == 1 and len(announced) == 1
    # New shifted predictions update the open alert; it is not announced again.
    log_predictions(embeddings(rng, 60, shift=4.0), start=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        again = drift_check(deployment_id=monitored.pk, now=timezone.now() + timedelta(hours=1))
    assert again.pk == alert.pk and len(announced) == 1
    # Acknowledged, it is closed; the next drift opens a new one.
    drift_alert_acknowledge(alert=again, user=monitored.project.owner)
    again.refresh_from_db()
    assert again.acknowledged and again.acknowledged_at is not None


def test_too_few_predictions_or_no_reference_are_not_checked(monitored, log_predictions):
    log_predictions(embeddings(np.random.default_rng(3), 50))
    assert drift_check(deployment_id=monitored.pk) is None
    assert not MonitoringSettings.objects.filter(deployment=monitored, checked_at__isnull=False)
    version = monitored.model_version
    version.ood_file = ""
    version.save(update_fields=["ood_file"])
    assert drift_check(deployment_id=monitored.pk) is None
    assert drift_check(deployment_id=10**9) is None


def test_a_higher_alert_threshold_turns_a_warning_into_an_alert(monitored, log_predictions):
    rng = np.random.default_rng(4)
    features = np.concatenate([embeddings(rng, 370), embeddings(rng, 30, shift=4.0)])
    log_predictions(features[rng.permutation(400)])
    monitoring_settings_update(deployment=monitored, changes={"alert_p": 0.5, "warning_p": 0.9})
    alert = drift_check(deployment_id=monitored.pk)
    assert alert is not None and alert.status == "alert"


def test_disabled_monitoring_is_not_checked(monitored, log_predictions):
    log_predictions(embeddings(np.random.default_rng(5), 200, shift=4.0))
    monitoring_settings_update(deployment=monitored, changes={"enabled": False})
    assert drift_check(deployment_id=monitored.pk) is None
    assert MonitoringSettings.objects.get(deployment=monitored).checked_at is None


@pytest.mark.parametrize(
    "changes",
    [{"alert_p": 0.0}, {"alert_p": 0.2, "warning_p": 0.1}, {"warning_p": 1.0}, {"window": 10}],
)
def test_invalid_settings_are_refused(monitored, changes):
    with pytest.raises(ApplicationError):
        monitoring_settings_update(deployment=monitored, changes=changes)


def test_the_task_checks_every_deployment_and_one_by_id(monitored, log_predictions):
    log_predictions(embeddings(np.random.default_rng(6), 150))
    assert check_drift() == 1
    assert MonitoringSettings.objects.get(deployment=monitored).checked_at is not None
    assert check_drift(monitored.pk) == 1
