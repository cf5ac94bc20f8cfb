"""Fine-tuning the top of a backbone with its head, resumable epoch by epoch.

Laid out like torchvision's classification reference: ``train_one_epoch`` and ``evaluate``
are plain functions over a model and a loader, and ``fit_finetune`` is the short loop
around them. After every epoch it hands out a complete checkpoint (model, optimiser,
scheduler, loss scaler, random generators, early-stopping state, best weights, history,
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

from apps.ml.backbones import get_backbone
from apps.ml.features import load_features
from apps.ml.heads import Classifier, LinearHead
from apps.ml.preprocessing import preprocess, train_transform
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
CHECKPOINT_FORMAT = 1
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


def _freeze_bottom(model: Classifier, unfreeze_blocks: int) -> list[nn.Module]:
    """Freeze the backbone except its last ``unfreeze_blocks`` blocks and the layers after
    them. Returns the trainable backbone modules."""
    for p in model.features.parameters():
        p.requires_grad_(False)
    blocks = list(model.features.blocks)
    if not 0 <= unfreeze_blocks <= len(blocks):
        raise ValueError(f"unfreeze_blocks must lie in 0..{len(blocks)}.")
    trainable = blocks[len(blocks) - unfreeze_blocks :] if unfreeze_blocks > 0 else []
    trainable += model.features.head_modules()
    for module in trainable:
        for p in module.parameters():
            p.requires_grad_(True)
    return trainable


def _set_train_mode(model: Classifier, trainable: list[nn.Module]) -> None:
    # Frozen layers keep their ImageNet batch-norm statistics (eval mode).
    model.eval()
    model.head.train()
    for module in trainable:
        module.train()


class EarlyStopping:
    """Keeps track of the best validation epoch: a higher accuracy, or the same accuracy with a
    lower loss (small validation sets tie often), is an improvement; ``patience`` epochs in a
    row without one mean stop."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best: tuple[float, float] | None = None
        self.best_epoch = 0
        self.stale = 0

    def update(self, epoch: int, val_accuracy: float, val_loss: float) -> bool:
        """Record an epoch's scores; True when it is the best so far."""
        if (
            self.best is None
            or val_accuracy > self.best[0]
            or (val_accuracy == self.best[0] and val_loss < self.best[1])
        ):
            self.best, self.best_epoch, self.stale = (val_accuracy, val_loss), epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "stale": self.stale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state["best"]
        self.best = None if best is None else (float(best[0]), float(best[1]))
        self.best_epoch, self.stale = int(state["best_epoch"]), int(state["stale"])


def _state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _no_autocast(device: torch.device) -> dict[str, Any]:
    return {"device_type": device.type, "enabled": False}


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
    should_stop: StopCheck | None = None,
    on_batch: BatchCallback | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``, stepping the optimiser (and the scheduler) after each batch.
    The caller puts ``model`` in the mode it trains in (fine-tuning keeps frozen layers in
    eval mode). Returns (mean loss, accuracy) over the samples seen. Raises
    ``TrainCancelled`` when ``should_stop()`` answers True before a batch."""
    device = torch.device(device)
    autocast = autocast or _no_autocast(device)
    scaler = scaler or torch.amp.GradScaler(device.type, enabled=False)
    batches = len(loader) if isinstance(loader, Sized) else 0
    loss_sum, correct, seen = 0.0, 0, 0
    for batch_index, (x, y) in enumerate(loader):
        if should_stop is not None and should_stop():
            raise TrainCancelled()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(**autocast):
            logits = model(x)
            loss = loss_fn(logits.float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
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
            x, y = x.to(device), y.to(device)
            with torch.autocast(**autocast):
                logits = model(x)
            loss_sum += float(loss_fn(logits.float(), y))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return (correct / total if total else float("nan")), (loss_sum / total if total else 0.0)


@dataclass
class _Run:
    """Everything one fine-tuning run trains with; what a checkpoint saves and restores."""

    spec: FinetuneSpec
    device: torch.device
    model: Classifier
    trainable: list[nn.Module]
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    loss_fn: nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    autocast: dict[str, Any]
    generator: torch.Generator
    stopper: EarlyStopping
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    epoch: int = 0

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
            "early_stopping": self.stopper.state_dict(),
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
        self.stopper.load_state_dict(state["early_stopping"])
        self.best_state = state["best_state"]
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["loader"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    @property
    def finished(self) -> bool:
        has_val = len(cast(Sized, self.val_loader.dataset)) > 0
        return self.epoch >= self.spec.epochs or (has_val and self.stopper.should_stop)


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
    backbone = get_backbone(spec.backbone)
    generator = torch.Generator().manual_seed(spec.seed)
    head = LinearHead(backbone.feature_dim, num_classes, dropout=spec.dropout)
    if init_head_state is not None:
        head.load_state_dict(init_head_state)
    model = Classifier(load_features(backbone), head)
    trainable = _freeze_bottom(model, spec.unfreeze_blocks)
    model.to(device)

    def eval_transform(image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(preprocess(image, backbone))

    loader_options: dict[str, Any] = {
        "batch_size": spec.batch_size,
        "num_workers": spec.num_workers,
        "persistent_workers": spec.num_workers > 0,
        "pin_memory": device.type == "cuda",
    }
    train_loader = torch.utils.data.DataLoader(
        _ImageDataset(train, train_transform(backbone)),
        shuffle=True,
        generator=generator,
        drop_last=len(train) > spec.batch_size,
        **loader_options,
    )
    val_loader = torch.utils.data.DataLoader(_ImageDataset(val, eval_transform), **loader_options)
    weight = _class_weights(labels, num_classes).to(device) if spec.class_weighted else None
    optimiser = torch.optim.AdamW(
        [
            {"params": [p for m in trainable for p in m.parameters()], "lr": spec.lr},
            {"params": model.head.parameters(), "lr": spec.head_lr},
        ],
        weight_decay=spec.weight_decay,
    )
    total_steps = max(1, spec.epochs * len(train_loader))
    warmup = min(len(train_loader), total_steps // 10)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))

    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    return _Run(
        spec=spec,
        device=device,
        model=model,
        trainable=trainable,
        train_loader=train_loader,
        val_loader=val_loader,
        loss_fn=nn.CrossEntropyLoss(weight=weight),
        optimiser=optimiser,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor),
        # bf16 keeps float32's range: only fp16 needs loss scaling.
        scaler=torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16),
        autocast={"device_type": device.type, "dtype": amp_dtype, "enabled": use_amp},
        generator=generator,
        stopper=EarlyStopping(spec.patience),
        best_state=_state_copy(model),
        history=[],
    )


def _epoch(
    run: _Run, *, on_progress: ProgressCallback | None, should_stop: StopCheck | None
) -> None:
    """Train and score one more epoch, and keep its weights when they are the best."""
    spec, epoch = run.spec, run.epoch + 1
    has_val = len(cast(Sized, run.val_loader.dataset)) > 0

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
        autocast=run.autocast,
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
    val_accuracy, val_loss = float("nan"), 0.0
    if has_val:
        val_accuracy, val_loss = evaluate(
            run.model, run.val_loader, device=run.device, autocast=run.autocast
        )
        row["val_accuracy"], row["val_loss"] = round(val_accuracy, 5), round(val_loss, 5)
    row["seconds"] = round(time.perf_counter() - started, 2)
    run.history.append(row)
    run.epoch = epoch
    if on_progress is not None:
        on_progress(ProgressEvent("training", epoch / spec.epochs, metrics=row))
    if not has_val or run.stopper.update(epoch, val_accuracy, val_loss):
        run.best_state = _state_copy(run.model)
        run.stopper.best_epoch = epoch


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
) -> TrainResult:
    """Fine-tune the top of the backbone with its head.

    Augmentation (random resized crop, flip, colour jitter), AdamW with warm-up + cosine
    schedule, early stopping on validation accuracy (the best weights are kept), mixed
    precision on CUDA. With ``init_head_state`` (a linear probe) the untouched model is scored
    first as epoch 0, so the result is never worse on validation than the probe it started
    from. Without validation images every epoch runs and the last one is kept.

    ``on_checkpoint(epoch, data)`` receives a complete checkpoint after every epoch; passing
    the latest one back as ``resume`` (same spec and data) continues after that epoch, with
    the same history and result as a run that was never interrupted (on a CPU; CUDA kernels
    are not bit-for-bit deterministic). A checkpoint of another spec raises
    ``CheckpointError`` before any training. The whole run draws on a private random generator
    seeded from ``spec.seed``.
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
            val_accuracy, val_loss = evaluate(
                run.model, run.val_loader, device=run.device, autocast=run.autocast
            )
            run.stopper.update(0, val_accuracy, val_loss)
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
    return TrainResult(
        spec=spec,
        head_state=head_state,
        model_state=run.best_state,
        history=run.history,
        best_epoch=run.stopper.best_epoch,
        seconds=time.perf_counter() - started,
        device=run.device.type,
    )
