"""Fine-tuning the top of a backbone with its head, resumable epoch by epoch.

Laid out like torchvision's classification reference: ``train_one_epoch`` and ``evaluate``
are plain functions over a model and a loader, and ``fit_finetune`` is the short loop
around them, with the reference's recipe: TrivialAugmentWide on the training images only
(``apps.ml.augment``), label smoothing, layer-wise learning rates (the head at its base
rate, each backbone block below a fraction of the one above), an exponential moving average
of the weights scored beside the raw weights (``apps.ml.ema``), warm-up then cosine, and
mixed precision with channels-last memory on CUDA only.

The run starts from a linear probe and counts it as epoch 0: it stops early, with the
reason in words, when no epoch beats the probe for ``patience`` epochs or when the epochs
left cannot close the gap, and then says the probe was kept (``FinetuneOutcome``).

After every epoch it hands out a complete checkpoint (model, optimiser, scheduler, loss
scaler, averaged weights, random generators, early-stopping state, best weights, history,
spec) as bytes; given back through ``resume=``, the run continues after that epoch exactly
as if it had never stopped. Where the bytes are kept is the caller's business.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from PIL import Image
from torch import nn

from apps.ml.augment import ImageTransform
from apps.ml.backbones import get_backbone
from apps.ml.ema import WeightEma, ema_decay
from apps.ml.features import load_features
from apps.ml.finetune_outcome import (
    EarlyStopping,
    FinetuneOutcome,
    finetune_outcome,
    gap_cannot_close,
)
from apps.ml.finetune_recipe import (
    EMA_HALF_LIFE_EPOCHS,
    LABEL_SMOOTHING,
    LAYER_DECAY,
    Precision,
    layerwise_param_groups,
    precision_for,
)
from apps.ml.heads import Classifier, LinearHead
from apps.ml.training import (
    FinetuneSpec,
    ImageSource,
    ProgressCallback,
    ProgressEvent,
    StopCheck,
    TrainCancelled,
    TrainResult,
    _check_labels,
    _class_weights,
)

# Bump when the checkpoint's layout changes: an older one is then refused, not misread.
CHECKPOINT_FORMAT = 2
# Spec fields that may differ between the run that wrote a checkpoint and the one resuming
# it (a retry may land on another machine).
_OPERATIONAL_FIELDS = ("device", "num_workers")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed here (another format or another spec): start
    afresh instead."""


# (batch index, batches in the epoch), after each batch.
BatchCallback = Callable[[int, int], None]
# (epoch, checkpoint bytes), after each epoch.
CheckpointCallback = Callable[[int, bytes], None]


def _load(source: ImageSource) -> Image.Image:
    if callable(source):
        image = source()
    else:
        with Image.open(source) as opened:
            image = opened.convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


class _ImageDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    def __init__(
        self,
        items: Sequence[tuple[ImageSource, int]],
        transform: Callable[[Image.Image], torch.Tensor],
    ) -> None:
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        source, label = self.items[index]
        return self.transform(_load(source)), label


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"Unknown device {name!r}: use 'auto', 'cpu' or 'cuda'.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("A GPU was asked for but none is available.")
    return torch.device(name)


def _trainable_layers(model: Classifier, unfreeze_blocks: int) -> list[nn.Module]:
    """Freeze the backbone except its last ``unfreeze_blocks`` blocks and the layers after
    them. Returns the trainable layers from the output down: head, 1x1 conv head, then the
    unfrozen blocks from the top."""
    for p in model.features.parameters():
        p.requires_grad_(False)
    blocks = list(model.features.blocks)
    if not 0 <= unfreeze_blocks <= len(blocks):
        raise ValueError(f"unfreeze_blocks must lie in 0..{len(blocks)}.")
    unfrozen = blocks[len(blocks) - unfreeze_blocks :] if unfreeze_blocks > 0 else []
    layers: list[nn.Module] = [model.head, nn.ModuleList(model.features.head_modules())]
    layers += reversed(unfrozen)
    for layer in layers[1:]:
        layer.requires_grad_(True)
    return layers


def _set_train_mode(model: Classifier, trainable: list[nn.Module]) -> None:
    # Frozen layers keep their ImageNet batch-norm statistics (eval mode).
    model.eval()
    for module in trainable:
        module.train()


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _no_autocast(device: torch.device) -> dict[str, Any]:
    return {"device_type": device.type, "enabled": False}


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    if channels_last and x.ndim == 4:
        return x.to(device, non_blocking=True, memory_format=torch.channels_last)
    return x.to(device, non_blocking=True)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    loss_fn: nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    device: torch.device | str = "cpu",
    autocast: dict[str, Any] | None = None,
    channels_last: bool = False,
    ema: WeightEma | None = None,
    should_stop: StopCheck | None = None,
    on_batch: BatchCallback | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``, stepping the optimiser (and the scheduler, and the averaged
    weights) after each batch. The caller puts ``model`` in the mode it trains in
    (fine-tuning keeps frozen layers in eval mode). Returns (mean loss, accuracy) over the
    samples seen. Raises ``TrainCancelled`` when ``should_stop()`` answers True before a
    batch."""
    device = torch.device(device)
    autocast = autocast or _no_autocast(device)
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    batches = len(loader) if isinstance(loader, Sized) else 0
    loss_sum, correct, seen = 0.0, 0, 0
    for batch_index, (x, y) in enumerate(loader):
        if should_stop is not None and should_stop():
            raise TrainCancelled()
        x, y = _to_device(x, device, channels_last), y.to(device, non_blocking=True)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(**autocast):
            logits = model(x)
            loss = loss_fn(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        if ema is not None:
            ema.update(model)
        loss_sum += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if on_batch is not None:
            on_batch(batch_index + 1, batches)
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: torch.device | str = "cpu",
    autocast: dict[str, Any] | None = None,
    channels_last: bool = False,
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` over ``loader``, in eval mode and under
    ``torch.inference_mode()``; (nan, 0.0) for an empty loader."""
    device = torch.device(device)
    autocast = autocast or _no_autocast(device)
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    with torch.inference_mode():
        for x, y in loader:
            x, y = _to_device(x, device, channels_last), y.to(device)
            with torch.autocast(**autocast):
                logits = model(x)
            loss_sum += float(loss_fn(logits.float(), y))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return (correct / total if total else float("nan")), (loss_sum / total if total else 0.0)


@dataclass
class FinetuneResult(TrainResult):
    """A ``TrainResult`` that also says how fine-tuning went against its probe."""

    outcome: FinetuneOutcome | None = None


@dataclass
class _Run:
    """Everything one fine-tuning run trains with; what a checkpoint saves and restores."""

    spec: FinetuneSpec
    device: torch.device
    precision: Precision
    model: Classifier
    trainable: list[nn.Module]
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    loss_fn: nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: WeightEma
    generator: torch.Generator
    stopper: EarlyStopping
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    epoch: int = 0
    stopped: str = ""  # why the run ended early ("patience", "gap"), once it has

    @property
    def val_images(self) -> int:
        return len(cast(Sized, self.val_loader.dataset))

    def checkpoint(self) -> bytes:
        rng = {"torch": torch.get_rng_state(), "loader": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {
            "format": CHECKPOINT_FORMAT,
            "spec": dataclasses.asdict(self.spec),
            "epoch": self.epoch,
            "model": _state_copy(self.model),
            "optimiser": self.optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict(),
            "early_stopping": self.stopper.state_dict(),
            "stopped": self.stopped,
            "best_state": self.best_state,
            "history": self.history,
            "rng": rng,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def restore(self, data: bytes) -> None:
        # weights_only: tensors and plain containers only, never code.
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, corrupt or not a checkpoint
            raise CheckpointError(f"The checkpoint cannot be read ({exc}).") from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError("The checkpoint was written by another version.")
        wanted = dataclasses.asdict(self.spec)
        for name in _OPERATIONAL_FIELDS:
            wanted.pop(name)
            state["spec"].pop(name, None)
        if state["spec"] != wanted:
            raise CheckpointError("The checkpoint belongs to a different training spec.")
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.ema.load_state_dict(state["ema"])
        self.stopper.load_state_dict(state["early_stopping"])
        self.stopped = str(state["stopped"])
        self.best_state = state["best_state"]
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["loader"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.spec.epochs or bool(self.stopped)


def _check_spec(
    spec: FinetuneSpec,
    train: Sequence[tuple[ImageSource, int]],
    val: Sequence[tuple[ImageSource, int]],
) -> np.ndarray:
    if len(spec.labels) < 2:
        raise ValueError("Training needs at least 2 labels.")
    if not train:
        raise ValueError("There are no training examples.")
    if min(spec.epochs, spec.batch_size, spec.patience) < 1:
        raise ValueError("epochs, batch_size and patience must be at least 1.")
    if not 0 <= spec.num_workers <= 2:
        raise ValueError("num_workers must lie in 0..2.")
    labels = np.asarray([label for _, label in train], dtype=np.int64)
    _check_labels(labels, len(spec.labels))
    if val:
        _check_labels(np.asarray([label for _, label in val], dtype=np.int64), len(spec.labels))
    return labels


def _setup(
    spec: FinetuneSpec,
    train: Sequence[tuple[ImageSource, int]],
    val: Sequence[tuple[ImageSource, int]],
    labels: np.ndarray,
    init_head_state: dict[str, torch.Tensor] | None,
) -> _Run:
    num_classes = len(spec.labels)
    device = _device(spec.device)
    precision = precision_for(
        device.type, bf16_supported=device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    backbone = get_backbone(spec.backbone)
    generator = torch.Generator().manual_seed(spec.seed)
    head = LinearHead(backbone.feature_dim, num_classes, dropout=spec.dropout)
    if init_head_state is not None:
        head.load_state_dict(init_head_state)
    model = Classifier(load_features(backbone), head)
    layers = _trainable_layers(model, spec.unfreeze_blocks)
    model.to(device)
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)

    loader_options: dict[str, Any] = {
        "batch_size": spec.batch_size,
        "num_workers": spec.num_workers,
        "persistent_workers": spec.num_workers > 0,
        "pin_memory": device.type == "cuda",
    }
    train_loader = torch.utils.data.DataLoader(
        _ImageDataset(train, ImageTransform(backbone, train=True)),
        shuffle=True,
        generator=generator,
        drop_last=len(train) > spec.batch_size,
        **loader_options,
    )
    val_loader = torch.utils.data.DataLoader(
        _ImageDataset(val, ImageTransform(backbone, train=False)), **loader_options
    )
    weight = _class_weights(labels, num_classes).to(device) if spec.class_weighted else None
    optimiser = torch.optim.AdamW(
        layerwise_param_groups(
            layers,
            head_lr=spec.head_lr,
            lr=spec.lr,
            decay=LAYER_DECAY,
            weight_decay=spec.weight_decay,
        )
    )
    steps_per_epoch = len(train_loader)
    total_steps = max(1, spec.epochs * steps_per_epoch)
    warmup = min(steps_per_epoch, total_steps // 10)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return _Run(
        spec=spec,
        device=device,
        precision=precision,
        model=model,
        trainable=layers,
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=nn.CrossEntropyLoss(weight=weight, label_smoothing=LABEL_SMOOTHING),
        optimiser=optimiser,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor),
        scaler=torch.amp.GradScaler("cuda", enabled=precision.scale_loss),
        ema=WeightEma(model, decay=ema_decay(EMA_HALF_LIFE_EPOCHS * steps_per_epoch)),
        generator=generator,
        stopper=EarlyStopping(spec.patience),
        best_state=_state_copy(model),
        history=[],
    )


def _score(run: _Run, model: nn.Module) -> tuple[float, float]:
    return evaluate(
        model,
        run.val_loader,
        device=run.device,
        autocast=run.precision.autocast,
        channels_last=run.precision.channels_last,
    )


def _epoch(
    run: _Run, *, on_progress: ProgressCallback | None, should_stop: StopCheck | None
) -> None:
    """Train and score one more epoch (raw and averaged weights), keep the better of the two
    when it is the best so far, and decide whether to go on."""
    spec, epoch = run.spec, run.epoch + 1
    has_val = run.val_images > 0

    def on_batch(done: int, batches: int) -> None:
        if on_progress is not None:
            fraction = (epoch - 1 + done / max(batches, 1)) / spec.epochs
            on_progress(ProgressEvent("training", fraction, f"epoch {epoch}/{spec.epochs}"))

    started = time.perf_counter()
    _set_train_mode(run.model, run.trainable)
    loss, accuracy = train_one_epoch(
        run.model,
        run.train_loader,
        loss_fn=run.loss_fn,
        optimiser=run.optimiser,
        scheduler=run.scheduler,
        scaler=run.scaler,
        device=run.device,
        autocast=run.precision.autocast,
        channels_last=run.precision.channels_last,
        ema=run.ema,
        should_stop=should_stop,
        on_batch=on_batch,
    )
    row: dict[str, Any] = {
        "epoch": epoch,
        "loss": round(loss, 5),
        "train_accuracy": round(accuracy, 5),
        "val_accuracy": None,
        "val_loss": None,
    }
    chosen: nn.Module = run.model
    val_accuracy, val_loss = float("nan"), 0.0
    if has_val:
        val_accuracy, val_loss = _score(run, run.model)
        ema_accuracy, ema_loss = _score(run, run.ema.module)
        row["raw_val_accuracy"] = round(val_accuracy, 5)
        row["ema_val_accuracy"] = round(ema_accuracy, 5)
        if (ema_accuracy, -ema_loss) > (val_accuracy, -val_loss):
            chosen, val_accuracy, val_loss = run.ema.module, ema_accuracy, ema_loss
        row["weights"] = "ema" if chosen is run.ema.module else "raw"
        row["val_accuracy"], row["val_loss"] = round(val_accuracy, 5), round(val_loss, 5)
    row["seconds"] = round(time.perf_counter() - started, 2)
    run.history.append(row)
    run.epoch = epoch
    if on_progress is not None:
        on_progress(ProgressEvent("training", epoch / spec.epochs, metrics=row))
    if not has_val or run.stopper.update(epoch, val_accuracy, val_loss):
        run.best_state = _state_copy(chosen)
        run.stopper.best_epoch = epoch
    if has_val and epoch < spec.epochs:
        if run.stopper.should_stop:
            run.stopped = "patience"
        elif gap_cannot_close(run.history, epochs=spec.epochs, val_images=run.val_images):
            run.stopped = "gap"


def fit_finetune(
    train: Sequence[tuple[ImageSource, int]],
    val: Sequence[tuple[ImageSource, int]],
    *,
    spec: FinetuneSpec,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    init_head_state: dict[str, torch.Tensor] | None = None,
    on_checkpoint: CheckpointCallback | None = None,
    resume: bytes | None = None,
    stop_if_probe_perfect: bool = False,
) -> FinetuneResult:
    """Fine-tune the top of the backbone with its head (the recipe in the module's notes).

    With ``init_head_state`` (a linear probe) the untouched model is scored first as epoch
    0, so the result is never worse on validation than the probe it started from, and
    ``result.outcome`` says whether an epoch beat it and why the run stopped. Each epoch's
    weights are the raw ones or their moving average, whichever scored better on
    validation. Without validation images every epoch runs and the last one is kept.

    ``on_checkpoint(epoch, data)`` receives a complete checkpoint after every epoch; passing
    the latest one back as ``resume`` (same spec and data) continues after that epoch, with
    the same history and result as a run that was never interrupted (on a CPU; CUDA kernels
    are not bit-for-bit deterministic). A checkpoint of another spec raises
    ``CheckpointError`` before any training. The whole run draws on a private random generator
    seeded from ``spec.seed``.

    ``stop_if_probe_perfect``: when the probe scores every validation image right, no epoch
    can beat it on accuracy (and label smoothing makes the fine-tuned validation loss no fair
    tie-break), so no epoch is trained and the probe is kept.
    """
    started = time.perf_counter()
    labels = _check_spec(spec, train, val)
    # A private RNG state: the fit neither disturbs nor depends on the caller's global one,
    # and a checkpoint can carry it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        run = _setup(spec, train, val, labels, init_head_state)
        if resume is not None:
            run.restore(resume)
        elif val and init_head_state is not None:
            val_accuracy, val_loss = _score(run, run.model)
            run.stopper.update(0, val_accuracy, val_loss)
            if stop_if_probe_perfect and val_accuracy >= 1.0:
                run.stopped = "perfect_probe"
            run.history.append(
                {
                    "epoch": 0,
                    "loss": None,
                    "train_accuracy": None,
                    "val_accuracy": round(val_accuracy, 5),
                    "val_loss": round(val_loss, 5),
                }
            )
        while not run.finished:
            _epoch(run, on_progress=on_progress, should_stop=should_stop)
            if on_checkpoint is not None:
                on_checkpoint(run.epoch, run.checkpoint())
    run.model.cpu()
    head_state = {
        k.removeprefix("head."): v for k, v in run.best_state.items() if k.startswith("head.")
    }
    return FinetuneResult(
        spec=spec,
        head_state=head_state,
        model_state=run.best_state,
        history=run.history,
        best_epoch=run.stopper.best_epoch,
        seconds=time.perf_counter() - started,
        device=run.device.type,
        outcome=finetune_outcome(
            run.history,
            best_epoch=run.stopper.best_epoch,
            stopped=run.stopped or "all_epochs",
            epochs=spec.epochs,
            patience=spec.patience,
        ),
    )
