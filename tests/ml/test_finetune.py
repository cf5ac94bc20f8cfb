"""apps.ml.finetune: the epoch functions on plain tensors, and a run that resumes from its
checkpoint exactly where it stopped."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from apps.ml import CheckpointError, FinetuneSpec, TrainCancelled, fit_finetune
from apps.ml.finetune import evaluate, train_one_epoch

SPEC = "efficientnet_lite0"
LABELS = ("dark", "light")


def _tensor_loader(seed: int = 0) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    dataset = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(dataset, batch_size=16)


def test_train_one_epoch_and_evaluate_on_plain_tensors():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    loader = _tensor_loader()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    first_accuracy, first_loss = evaluate(model, loader)
    for _ in range(5):
        model.train()
        loss, accuracy = train_one_epoch(
            model,
            loader,
            loss_fn=nn.CrossEntropyLoss(),
            optimiser=optimiser,
            on_batch=lambda done, total: seen.append((done, total)),
        )
        assert math.isfinite(loss) and 0.0 <= accuracy <= 1.0
    accuracy, loss = evaluate(model, loader)
    assert accuracy > 0.9 and loss < first_loss
    assert not model.training
    assert seen[:4] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert evaluate(model, []) == (pytest.approx(float("nan"), nan_ok=True), 0.0)
    with pytest.raises(TrainCancelled):
        train_one_epoch(
            model,
            loader,
            loss_fn=nn.CrossEntropyLoss(),
            optimiser=optimiser,
            should_stop=lambda: True,
        )
    assert first_accuracy <= 1.0


def _items(count: int) -> list[tuple[object, int]]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(count):
        label = i % 2
        base = 60 if label == 0 else 190
        pixels = np.clip(rng.normal(base, 25, (48, 64, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        items.append(((lambda image=image: image), label))
    return items


class _WorkerDied(Exception):
    pass


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_run_resumed_from_its_checkpoint_ends_like_an_uninterrupted_one():
    train, val = _items(8), _items(4)
    spec = FinetuneSpec(
        SPEC, LABELS, epochs=3, batch_size=4, unfreeze_blocks=1, patience=5, device="cpu"
    )
    epochs_seen = []
    whole = fit_finetune(
        train, val, spec=spec, on_checkpoint=lambda epoch, data: epochs_seen.append(epoch)
    )
    assert epochs_seen == [1, 2, 3]

    saved: dict[int, bytes] = {}

    def die_after_first_epoch(epoch: int, data: bytes) -> None:
        saved[epoch] = data
        raise _WorkerDied()

    with pytest.raises(_WorkerDied):
        fit_finetune(train, val, spec=spec, on_checkpoint=die_after_first_epoch)
    assert list(saved) == [1] and isinstance(saved[1], bytes)

    resumed_epochs = []
    resumed = fit_finetune(
        train,
        val,
        spec=spec,
        resume=saved[1],
        on_checkpoint=lambda epoch, data: resumed_epochs.append(epoch),
    )
    assert resumed_epochs == [2, 3]  # epoch 1 is not trained again
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert _without_seconds(resumed.history) == _without_seconds(whole.history)
    assert resumed.best_epoch == whole.best_epoch
    for name, tensor in whole.model_state.items():
        torch.testing.assert_close(resumed.model_state[name], tensor, rtol=0, atol=1e-6)


def test_a_checkpoint_of_another_spec_is_refused():
    train = _items(4)
    spec = FinetuneSpec(SPEC, LABELS, epochs=1, batch_size=4, unfreeze_blocks=0, device="cpu")
    saved = []
    fit_finetune(train, [], spec=spec, on_checkpoint=lambda epoch, data: saved.append(data))
    other = FinetuneSpec(SPEC, LABELS, epochs=1, batch_size=2, unfreeze_blocks=0, device="cpu")
    with pytest.raises(CheckpointError, match="different training spec"):
        fit_finetune(train, [], spec=other, resume=saved[-1])
    # A finished run's checkpoint resumes into the same result, training nothing more.
    again = fit_finetune(train, [], spec=spec, resume=saved[-1], on_checkpoint=saved.append)
    assert len(saved) == 1 and again.best_epoch == 1


def test_each_epoch_scores_raw_and_averaged_weights_and_the_run_says_how_it_went():
    train, val = _items(8), _items(4)
    spec = FinetuneSpec(
        SPEC, LABELS, epochs=2, batch_size=4, unfreeze_blocks=1, patience=5, device="cpu"
    )
    head = {"fc.weight": torch.zeros(2, 1280), "fc.bias": torch.zeros(2)}
    result = fit_finetune(train, val, spec=spec, init_head_state=head)
    for row in result.history[1:]:
        assert row["weights"] in {"raw", "ema"}
        chosen = row["ema_val_accuracy"] if row["weights"] == "ema" else row["raw_val_accuracy"]
        assert row["val_accuracy"] == chosen
    outcome = result.outcome
    assert outcome is not None and outcome.epochs_run == 2 and outcome.stopped == "all_epochs"
    assert outcome.probe_accuracy == result.history[0]["val_accuracy"] == 0.5
    assert outcome.outcome == ("kept_probe" if result.best_epoch == 0 else "improved")
    assert outcome.reason


def test_a_probe_perfect_on_validation_ends_the_run_before_its_first_epoch():
    from apps.ml import QuickSpec, embed, fit_quick

    train, val = _items(8), _items(6)
    images = [source() for source, _ in val]
    probe = fit_quick(
        embed(images, backbone=SPEC), np.asarray([y for _, y in val]), spec=QuickSpec(SPEC, LABELS)
    )
    spec = FinetuneSpec(SPEC, LABELS, epochs=3, batch_size=4, unfreeze_blocks=1, device="cpu")
    result = fit_finetune(
        train, val, spec=spec, init_head_state=probe.head_state, stop_if_probe_perfect=True
    )
    assert result.history[0]["val_accuracy"] == 1.0
    assert [row["epoch"] for row in result.history] == [0] and result.best_epoch == 0
    assert result.outcome is not None and result.outcome.outcome == "kept_probe"
    assert result.outcome.stopped == "perfect_probe" and result.outcome.epochs_run == 0
    assert "every validation image right" in result.outcome.reason
