"""Scores say how much backs them (issue 13): the accuracy's 95 % interval and test-image
count, recorded at training time and computed on read for older versions; fine-tuning says
when it kept the quick model; live progress carries an estimate of the time left."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apps.training.runner import Progress, _finetune_outcome
from apps.training.selectors import accuracy_interval_of, metrics_for_read


def test_interval_from_count_and_accuracy():
    interval = accuracy_interval_of({"count": 40, "accuracy": 0.95})
    assert interval["images"] == 40
    assert interval["low"] < 0.95 < interval["high"]
    # 40 images: an interval of ~20 points, too few to tell.
    assert interval["too_few_images"] is True
    many = accuracy_interval_of({"count": 4000, "accuracy": 0.95})
    assert many["too_few_images"] is False
    assert accuracy_interval_of({"history": []}) is None


def test_older_versions_get_their_interval_on_read_and_stored_ones_stay():
    old = metrics_for_read({"count": 40, "accuracy": 0.9})
    assert old["accuracy_interval"]["images"] == 40
    stored = {"count": 40, "accuracy": 0.9, "accuracy_interval": {"images": 1}}
    assert metrics_for_read(stored)["accuracy_interval"] == {"images": 1}
    assert metrics_for_read(None) == {}


@pytest.mark.parametrize(
    ("best_epoch", "has_probe", "kept"), [(0, True, True), (3, True, False), (0, False, False)]
)
def test_finetune_outcome(best_epoch, has_probe, kept):
    outcome = _finetune_outcome(SimpleNamespace(best_epoch=best_epoch), has_probe=has_probe)
    assert outcome["kept_probe"] is kept
    assert outcome["outcome"] == ("kept_probe" if kept else "improved")


class _Monitor:
    def __init__(self) -> None:
        self.reports: list[dict] = []

    def report(self, **kwargs) -> None:
        self.reports.append(kwargs)


def test_training_progress_reports_time_left_from_epoch_durations():
    monitor = _Monitor()
    progress = Progress(monitor, {"training": 0.8, "exporting": 0.2})
    progress.begin("training")
    assert "eta_seconds" not in monitor.reports[-1]["metrics"]
    # Epoch 1 of 4 took 10 s: about 3 more epochs (30 s) plus the export's share.
    progress.update(0.25, history={"epoch": 1, "seconds": 10.0})
    eta = monitor.reports[-1]["metrics"]["eta_seconds"]
    assert 30.0 <= eta < 60.0
