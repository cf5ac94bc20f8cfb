"""The fine-tuning recipe's pieces on plain tensors (issue 15): the weight average's
arithmetic, learning rates by depth, augmentation in train mode only, precision by device,
and the early-stop decision with its reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from apps.ml.augment import ImageTransform
from apps.ml.ema import WeightEma, ema_decay
from apps.ml.finetune_outcome import finetune_outcome, gap_cannot_close
from apps.ml.finetune_recipe import layerwise_param_groups, precision_for
from apps.ml.preprocessing import preprocess


def test_the_average_moves_by_one_minus_decay_and_copies_integer_buffers():
    model = nn.BatchNorm1d(2)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = WeightEma(model, decay=0.75)
    with torch.no_grad():
        model.weight.fill_(5.0)
    model.num_batches_tracked.fill_(7)
    ema.update(model)
    # 0.75 * 1 + 0.25 * 5 = 2; then 0.75 * 2 + 0.25 * 5 = 2.75.
    torch.testing.assert_close(ema.module.weight, torch.full((2,), 2.0))
    ema.update(model)
    torch.testing.assert_close(ema.module.weight, torch.full((2,), 2.75))
    assert int(ema.module.num_batches_tracked) == 7 and ema.updates == 2
    assert not ema.module.weight.requires_grad and not ema.module.training

    restored = WeightEma(nn.BatchNorm1d(2), decay=0.5)
    restored.load_state_dict(ema.state_dict())
    assert restored.decay == 0.75 and restored.updates == 2
    torch.testing.assert_close(restored.module.weight, ema.module.weight)


def test_ema_decay_halves_a_weight_every_half_life():
    assert ema_decay(4) ** 4 == pytest.approx(0.5)
    assert ema_decay(0) == 0.0
    with pytest.raises(ValueError):
        ema_decay(-1)
    with pytest.raises(ValueError):
        WeightEma(nn.Linear(1, 1), decay=1.0)


def test_layerwise_groups_cover_every_trainable_parameter_once_with_decreasing_rates():
    bottom, middle, top, head = nn.Linear(3, 3), nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)
    frozen = nn.Linear(3, 3).requires_grad_(False)
    shared = nn.Sequential(top, middle)  # middle appears twice: it must be counted once
    layers = [head, shared, middle, bottom, frozen]
    groups = layerwise_param_groups(layers, head_lr=1e-3, lr=4e-4, decay=0.5, weight_decay=0.05)
    grouped = [p for group in groups for p in group["params"]]
    trainable = [p for m in (head, top, middle, bottom) for p in m.parameters()]
    assert len(grouped) == len({id(p) for p in grouped}) == len(trainable)
    assert {id(p) for p in grouped} == {id(p) for p in trainable}
    rates = {group["depth"]: group["lr"] for group in groups}
    assert rates == {0: 1e-3, 1: 4e-4, 3: pytest.approx(1e-4)}
    depths = [group["depth"] for group in groups]
    assert [group["lr"] for group in groups] == sorted((g["lr"] for g in groups), reverse=True)
    assert depths == sorted(depths)
    for group in groups:  # biases and norm weights are not decayed
        assert group["weight_decay"] == (0.0 if group["params"][0].ndim == 1 else 0.05)
    torch.optim.AdamW(groups)  # a valid optimiser specification


def test_augmentation_only_in_train_mode():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    transform = ImageTransform("efficientnet_lite0", train=False)
    # Eval mode is the serving preprocessing itself.
    np.testing.assert_array_equal(transform(image).numpy(), preprocess(image, "efficientnet_lite0"))
    transform.train()
    torch.manual_seed(0)
    first, second = transform(image), transform(image)
    assert first.shape == (3, 224, 224) and first.dtype == torch.float32
    assert not torch.equal(first, second)
    assert float(first.min()) >= -1.0 - 1e-6 and float(first.max()) <= 1.0 + 1e-6
    assert transform.eval().training is False


def test_mixed_precision_and_channels_last_only_on_cuda():
    cpu = precision_for("cpu")
    assert cpu.autocast["enabled"] is False and not cpu.scale_loss and not cpu.channels_last
    bf16 = precision_for("cuda", bf16_supported=True)
    assert bf16.autocast == {"device_type": "cuda", "dtype": torch.bfloat16, "enabled": True}
    assert not bf16.scale_loss and bf16.channels_last
    fp16 = precision_for("cuda", bf16_supported=False)
    assert fp16.autocast["dtype"] == torch.float16 and fp16.scale_loss and fp16.channels_last


def _history(probe: float | None, *scores: float) -> list[dict]:
    rows = [] if probe is None else [{"epoch": 0, "val_accuracy": probe}]
    return rows + [{"epoch": i, "val_accuracy": s} for i, s in enumerate(scores, start=1)]


def test_the_gap_to_the_probe_stops_a_run_that_cannot_close_it():
    # 20 validation images: at least 5 points an epoch is counted as possible.
    assert not gap_cannot_close(_history(0.95, 0.70), epochs=10, val_images=20)  # one epoch
    assert not gap_cannot_close(_history(0.95, 0.70, 0.72), epochs=10, val_images=20)
    assert gap_cannot_close(_history(0.95, 0.70, 0.70), epochs=6, val_images=20)
    assert not gap_cannot_close(_history(0.95, 0.70, 0.90), epochs=6, val_images=20)  # fast pace
    assert not gap_cannot_close(_history(0.95, 0.90, 0.96), epochs=6, val_images=20)  # beaten
    assert not gap_cannot_close(_history(None, 0.50, 0.50), epochs=3, val_images=20)  # no probe


def test_the_outcome_says_in_words_when_the_probe_was_kept():
    kept = finetune_outcome(
        _history(0.954, 0.93, 0.939, 0.94), best_epoch=0, stopped="patience", epochs=10, patience=3
    )
    assert kept.outcome == "kept_probe" and kept.epochs_run == 3 and not kept.ema_used
    assert kept.reason == (
        "Fine-tuning stopped after 3 epochs: no epoch beat the frozen-feature model (95.4 % on "
        "validation; the best epoch reached 94.0 %), so that model was kept."
    )
    gap = finetune_outcome(
        _history(0.95, 0.7, 0.7), best_epoch=0, stopped="gap", epochs=6, patience=3
    )
    assert "the 4 epochs left could not close that gap" in gap.reason

    history = _history(0.954, 0.96, 0.98)
    history[2]["weights"] = "ema"
    improved = finetune_outcome(history, best_epoch=2, stopped="all_epochs", epochs=2, patience=3)
    assert improved.outcome == "improved" and improved.ema_used
    assert improved.as_dict()["best_accuracy"] == 0.98 and improved.probe_accuracy == 0.954
    assert improved.reason.startswith("Epoch 2 reached 98.0 % on validation with its averaged")

    unchecked = finetune_outcome(
        [{"epoch": 1, "val_accuracy": None}],
        best_epoch=1,
        stopped="all_epochs",
        epochs=1,
        patience=3,
    )
    assert unchecked.outcome == "unchecked"
