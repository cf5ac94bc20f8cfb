"""Fine-tuning's outcome in the job's metrics (issue 15): the figures and the reason travel
with the legacy "kept_probe" flag, and fine-tuning starts from accurate mode's backbone."""

from __future__ import annotations

from apps.ml import FinetuneOutcome, FinetuneResult, FinetuneSpec
from apps.training.models import ACCURATE_BACKBONE
from apps.training.runner import FINETUNE_BACKBONE, _finetune_outcome


def test_the_outcome_and_its_reason_go_into_the_metrics():
    outcome = FinetuneOutcome(
        outcome="kept_probe",
        reason="Fine-tuning stopped after 3 epochs: no epoch beat the frozen-feature model.",
        stopped="patience",
        epochs_run=3,
        epochs_planned=10,
        best_epoch=0,
        probe_accuracy=0.954,
        best_accuracy=0.954,
        ema_used=False,
    )
    result = FinetuneResult(spec=FinetuneSpec("efficientnet_lite2", ("a", "b")), best_epoch=0)
    result.outcome = outcome
    metrics = _finetune_outcome(result, has_probe=True)
    assert metrics["kept_probe"] is True and metrics["outcome"] == "kept_probe"
    assert metrics["finetune"]["reason"].startswith("Fine-tuning stopped after 3 epochs")
    assert metrics["finetune"]["ema_used"] is False and metrics["finetune"]["epochs_run"] == 3


def test_finetuning_starts_from_accurate_modes_backbone():
    assert FINETUNE_BACKBONE == ACCURATE_BACKBONE == "efficientnet_lite2"
