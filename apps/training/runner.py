"""One attempt at a training job, between the claim and the recorded outcome.

It reads the job's frozen snapshot, gets the images or their cached embeddings, calls
``apps.ml`` to train, evaluate and export, and returns what to store. It writes no rows
itself except cached embeddings (live progress goes through the ``JobMonitor``), and holds
no transaction open.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps import ml
from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image
from apps.training.checkpoints import checkpoint_load, checkpoint_save
from apps.training.embeddings import embeddings_compute, image_open_normalized
from apps.training.health.reference import OOD_FILENAME, ood_reference_bytes
from apps.training.models import ACCURATE_BACKBONE, TrainingJob
from apps.training.selectors import ID_CHUNK, accuracy_interval_of, embedding_vectors

logger = logging.getLogger(__name__)

# Share of the train split held out for validation when the project has no val images.
HOLDOUT_FRACTION = 0.2
# What quick-mode metrics say they were measured on when the project has no test images.
CROSS_VALIDATION = "cross-validation"
# Per-stage shares of the overall progress bar.
QUICK_STAGES = {"embedding": 0.35, "training": 0.45, "evaluating": 0.05, "exporting": 0.15}
FINETUNE_STAGES = {"embedding": 0.05, "training": 0.8, "exporting": 0.1, "evaluating": 0.05}
# Fine-tuning's backbone and starting point: accurate mode's (see ``_train_finetune``).
FINETUNE_BACKBONE = ACCURATE_BACKBONE
# Top backbone blocks fine-tuning trains, each at ``ml``'s layer decay times the rate above.
FINETUNE_UNFREEZE_BLOCKS = 3
# A probe right on all of at least this many validation images cannot be beaten: no epoch
# is trained (hymenoptera: 49/49). On fewer, a perfect score is too likely by chance.
PERFECT_PROBE_MIN_VAL_IMAGES = 20
# Images per batch when evaluating a fine-tuned network.
EVAL_BATCH = 32
# Real images the fine-tuned network's ONNX export is checked on against PyTorch.
EXPORT_CHECK_IMAGES = 8


@dataclass
class TrainOutput:
    """What a successful attempt hands back to be stored."""

    backbone: str
    labels: tuple[str, ...]
    metrics: dict[str, Any]
    # (ModelVersion field, file name, bytes)
    files: list[tuple[str, str, bytes]]


@dataclass
class Partition:
    """The snapshot's images by role, as (image id, class index) pairs."""

    train: list[tuple[int, int]]
    val: list[tuple[int, int]]
    held_out: list[tuple[int, int]]
    # "test", "val", or "val (held out from train)": what the metrics were measured on.
    evaluated_on: str
    val_source: str
    counts: dict[str, int] = field(default_factory=dict)


def snapshot_partition(
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    *,
    holdout_fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
    validation: bool = True,
) -> Partition:
    """Split the snapshot rows into train / val / held-out sets.

    ``validation=False`` (quick mode, whose choices are made by cross-validation): every
    labelled image outside the test split trains, nothing is set aside for validation, and
    the metrics are measured on "test", or by cross-validation when the test split is empty.

    Training uses split "train" (and images without a split, which only happens when the
    split service was not available). Validation (early stopping) uses "val"; with no val
    images, a stratified ``holdout_fraction`` of train is held out instead (at least one
    image of each label that has two or more). The reported metrics are measured on "test"
    when it has images, otherwise on the validation images."""
    index = {name: i for i, name in enumerate(labels)}
    by_split: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        split = row.get("split") or "train"
        by_split[split].append((int(row["id"]), index[row["label"]]))
    train, val, test = by_split["train"], by_split["val"], by_split["test"]
    counts = {
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "unsplit_as_train": sum(1 for row in rows if not row.get("split")),
    }
    if not validation:
        train = sorted(train + val)
        counts["train"], counts["val"] = len(train), 0
        counts["held_out"] = len(test)
        return Partition(
            train=train,
            val=[],
            held_out=test,
            evaluated_on="test" if test else CROSS_VALIDATION,
            val_source="none",
            counts=counts,
        )
    val_source = "val"
    if not val:
        rng = np.random.default_rng(seed)
        per_class: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for item in sorted(train):
            per_class[item[1]].append(item)
        kept: list[tuple[int, int]] = []
        for items in per_class.values():
            order = rng.permutation(len(items))
            take = int(round(len(items) * holdout_fraction))
            take = min(max(take, 1), len(items) - 1) if len(items) >= 2 else 0
            val += [items[i] for i in order[:take]]
            kept += [items[i] for i in order[take:]]
        train = sorted(kept)
        val = sorted(val)
        val_source = "train"
        counts["train"], counts["val"] = len(train), len(val)
        counts["val_held_out_from_train"] = len(val)
    if test:
        held_out, evaluated_on = test, "test"
    else:
        held_out = val
        evaluated_on = "val" if val_source == "val" else "val (held out from train)"
    counts["held_out"] = len(held_out)
    return Partition(
        train=train,
        val=val,
        held_out=held_out,
        evaluated_on=evaluated_on,
        val_source=val_source,
        counts=counts,
    )


class Progress:
    """Maps each stage's own 0..1 progress onto the job's overall bar, keeps the live
    history, and passes it all to the monitor (which throttles the writes)."""

    def __init__(self, monitor: Any, stages: dict[str, float]) -> None:
        self.monitor = monitor
        self.stages = stages
        self.history: list[dict[str, Any]] = []
        self.stage = ""
        self.timings: dict[str, float] = {}
        self._started = time.monotonic()
        self._stage_started = self._started

    def _offset(self, stage: str) -> float:
        total = 0.0
        for name, share in self.stages.items():
            if name == stage:
                return total
            total += share
        return total

    def begin(self, stage: str) -> None:
        now = time.monotonic()
        if self.stage:
            self.timings[self.stage] = round(
                self.timings.get(self.stage, 0.0) + now - self._stage_started, 3
            )
        self.stage, self._stage_started = stage, now
        self.update(0.0)

    def end(self) -> dict[str, float]:
        self.begin("")
        self.timings["total"] = round(time.monotonic() - self._started, 3)
        return self.timings

    def update(self, fraction: float, *, history: dict[str, Any] | None = None) -> None:
        if history is not None:
            self.history.append(_plain(history))
        if not self.stage:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        overall = self._offset(self.stage) + self.stages.get(self.stage, 0.0) * fraction
        # A copy: the monitor's thread serialises it while training appends more.
        live: dict[str, Any] = {"history": list(self.history)}
        eta = self.seconds_left(fraction)
        if eta is not None:
            live["eta_seconds"] = round(eta, 1)
        self.monitor.report(stage=self.stage, progress=round(min(overall, 0.999), 4), metrics=live)

    def seconds_left(self, fraction: float) -> float | None:
        """An estimate of the time left: the current stage at the pace it has gone so far
        (for training, the epochs' own durations), the stages after it at the pace of the
        whole run per share of the bar. None until the stage has made some progress."""
        if fraction <= 0.0 or fraction >= 1.0:
            return None
        now = time.monotonic()
        stage_elapsed = now - self._stage_started
        epochs = [row["seconds"] for row in self.history if row.get("seconds")]
        if self.stage == "training" and epochs:
            # Epochs left at the mean epoch's duration (an epoch ends each progress event).
            per_fraction = sum(epochs) / len(epochs) / max(fraction / len(epochs), 1e-6)
            stage_left = per_fraction * (1.0 - fraction)
        else:
            stage_left = stage_elapsed / fraction * (1.0 - fraction)
        share = self.stages.get(self.stage, 0.0)
        done_share = self._offset(self.stage) + share * fraction
        later_share = max(0.0, 1.0 - self._offset(self.stage) - share)
        per_share = (now - self._started) / max(done_share, 1e-6)
        return stage_left + later_share * per_share

    def on_event(self, event: Any) -> None:
        """An ``apps.ml.ProgressEvent`` from a fit function."""
        metrics = getattr(event, "metrics", None) or None
        entry = metrics if metrics and ("epoch" in metrics or "step" in metrics) else None
        self.update(getattr(event, "progress", 0.0), history=entry)


def _plain(value: Any) -> Any:
    """JSON-ready copy (numpy scalars become floats / ints)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _check_stop(monitor: Any) -> None:
    if monitor.should_stop():
        raise ml.TrainCancelled()


def _require_every_label(part: Partition, labels: Sequence[str]) -> None:
    present = {y for _, y in part.train}
    missing = [labels[i] for i in range(len(labels)) if i not in present]
    if missing:
        names = ", ".join(f'"{name}"' for name in missing)
        raise ApplicationError(
            f"No training image of {names} is left (images were deleted since the job was "
            "started). Label more images and train again."
        )


def image_files(image_ids: Sequence[int]) -> dict[int, str]:
    """The stored (normalized) file of each of ``image_ids`` that still exists."""
    ids = list(image_ids)
    names: dict[int, str] = {}
    for start in range(0, len(ids), ID_CHUNK):
        names.update(
            Image.objects.filter(id__in=ids[start : start + ID_CHUNK]).values_list(
                "id", "normalized"
            )
        )
    return names


def _embeddings(
    ids: Sequence[int], *, backbone: str, progress: Progress, monitor: Any
) -> dict[int, np.ndarray]:
    """The embeddings of ``ids``, computing (and caching) the missing ones."""
    progress.begin("embedding")
    vectors = embedding_vectors(image_ids=ids, backbone=backbone)
    missing = [i for i in ids if i not in vectors]
    if missing:
        embeddings_compute(
            image_ids=missing,
            backbone=backbone,
            on_batch=lambda done, total: progress.update(done / max(total, 1)),
            should_stop=monitor.should_stop,
        )
        _check_stop(monitor)
        vectors.update(embedding_vectors(image_ids=missing, backbone=backbone))
    return vectors


def _arrays(
    items: Sequence[tuple[int, int]], vectors: dict[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    kept = [(i, y) for i, y in items if i in vectors]
    if not kept:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), []
    x = np.stack([vectors[i] for i, _ in kept]).astype(np.float32, copy=False)
    y = np.asarray([y for _, y in kept], dtype=np.int64)
    return x, y, [i for i, _ in kept]


def _target(project: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    value = metrics.get(project.target_metric)
    return {
        "metric": project.target_metric,
        "value": project.target_value,
        "achieved": value,
        "reached": value is not None and value >= project.target_value,
    }


def train(job: TrainingJob, monitor: Any) -> TrainOutput:
    """Train, evaluate and export the job's model. Raises ``TrainCancelled`` when asked to
    stop, ``ApplicationError`` for data that cannot be trained on."""
    project = job.project
    spec = ml.get_backbone(project.backbone)
    snapshot = list(job.snapshot or [])
    labels = tuple(sorted({row["label"] for row in snapshot}))
    files = image_files([row["id"] for row in snapshot])
    rows = [row for row in snapshot if row["id"] in files]
    part = snapshot_partition(rows, labels, validation=job.mode == TrainingJob.Mode.FINETUNE)
    part.counts["deleted_since_snapshot"] = len(snapshot) - len(rows)
    _require_every_label(part, labels)
    if job.mode == TrainingJob.Mode.FINETUNE:
        return _train_finetune(job, monitor, spec, labels, part, files)
    if job.mode == TrainingJob.Mode.ACCURATE:
        # The same frozen-features path as fast mode, on the larger backbone's features.
        spec = ml.get_backbone(ACCURATE_BACKBONE)
    return _train_quick(job, monitor, spec, labels, part)


def _quick_fit(
    spec: Any,
    labels: tuple[str, ...],
    part: Partition,
    vectors: dict[int, np.ndarray],
    *,
    on_progress: Callable[[Any], None] | None,
    should_stop: Callable[[], bool],
) -> tuple[Any, Any]:
    """The head that ships, trained on every image of ``part.train``, with its L2 penalty
    chosen by cross-validation on those same images (no validation split is spent)."""
    train_x, train_y, _ = _arrays(part.train, vectors)
    # The quick head is a [N, 1280] x [1280, C] problem: more threads only synchronise.
    with ml.torch_threads(1):
        choice = ml.choose_l2(
            train_x, train_y, num_classes=len(labels), need_probabilities=not part.held_out
        )
        if should_stop():
            raise ml.TrainCancelled()
        result = ml.fit_quick(
            train_x,
            train_y,
            spec=ml.QuickSpec(backbone=spec.name, labels=labels, l2=choice.l2),
            on_progress=on_progress,
            should_stop=should_stop,
        )
    return result, choice


def _train_quick(
    job: TrainingJob, monitor: Any, spec: Any, labels: tuple[str, ...], part: Partition
) -> TrainOutput:
    progress = Progress(monitor, QUICK_STAGES)
    ids = [i for i, _ in part.train + part.val + part.held_out]
    vectors = _embeddings(
        list(dict.fromkeys(ids)), backbone=spec.name, progress=progress, monitor=monitor
    )

    progress.begin("training")
    result, choice = _quick_fit(
        spec, labels, part, vectors, on_progress=progress.on_event, should_stop=monitor.should_stop
    )

    progress.begin("evaluating")
    trained_x, trained_y, trained_ids = _arrays(part.train, vectors)
    extra: dict[str, Any] = {
        "regularisation": {"l2": choice.l2, "folds": choice.folds, "scores": choice.scores}
    }
    if part.held_out:
        held_x, held_y, held_ids = _arrays(part.held_out, vectors)
        probs = ml.head_probabilities(result.head_state, held_x)
    else:
        # No test images: every image is scored by a head that never saw it.
        assert choice.probabilities is not None  # asked for when there is no test image
        probs, held_y, held_ids = choice.probabilities, trained_y, trained_ids
    metrics = ml.evaluate(probs, held_y, labels=list(labels), ids=held_ids)
    if choice.probabilities is not None:
        correct = int((choice.probabilities.argmax(axis=1) == trained_y).sum())
        interval = ml.accuracy_interval(correct, len(trained_y))
        extra["cv_accuracy"] = {
            "value": round(interval.value, 5),
            "low": round(interval.low, 5),
            "high": round(interval.high, 5),
            "images": interval.images,
        }

    progress.begin("exporting")
    onnx_bytes = ml.compose_classifier_onnx(spec.name, result.head_state)
    head_bytes = ml.state_bytes(result.head_state)
    # What serving scores out-of-distribution requests against: the images trained on.
    ood_bytes = ood_reference_bytes(trained_x) if len(trained_x) >= 2 else None
    metrics = _final_metrics(
        job,
        metrics,
        part,
        progress,
        result,
        vectors,
        **extra,
    )
    files = [("onnx_file", "model.onnx", onnx_bytes), ("head_file", "head.pt", head_bytes)]
    if ood_bytes is not None:
        files.append(("ood_file", OOD_FILENAME, ood_bytes))
    # The INT8 copy is made by its own job once the version is saved (compression_jobs).
    return TrainOutput(backbone=spec.name, labels=labels, metrics=metrics, files=files)


def _final_metrics(
    job: TrainingJob,
    metrics: dict[str, Any],
    part: Partition,
    progress: Progress,
    result: Any,
    vectors: dict[int, np.ndarray] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    metrics = dict(metrics)
    metrics["evaluated_on"] = part.evaluated_on
    metrics["counts"] = dict(part.counts)
    if vectors is not None:
        # Images whose file could not be read have no embedding and were left out.
        used = {i for i, _ in part.train + part.val + part.held_out}
        metrics["counts"]["unreadable"] = len(used - set(vectors))
    metrics["history"] = list(result.history) if result.history else progress.history
    metrics["best_epoch"] = getattr(result, "best_epoch", None)
    metrics["target"] = _target(job.project, metrics)
    metrics["accuracy_interval"] = accuracy_interval_of(metrics)
    metrics.update(extra)
    metrics["timings"] = progress.end()
    metrics["seconds"] = metrics["timings"]["total"]
    return _plain(metrics)


def _finetune_outcome(result: Any, *, has_probe: bool) -> dict[str, Any]:
    """Whether fine-tuning beat the frozen-feature model it started from. Epoch 0 is that
    model scored on validation (``ml.fit_finetune``): when it stays the best, the weights
    kept ARE a frozen-feature model's, and the user must be told so rather than shown a
    "new" model. ``finetune`` carries the figures and the reason in words."""
    kept = has_probe and getattr(result, "best_epoch", None) == 0
    metrics: dict[str, Any] = {"outcome": "kept_probe" if kept else "improved", "kept_probe": kept}
    outcome = getattr(result, "outcome", None)
    if outcome is not None:
        metrics["finetune"] = outcome.as_dict()
    return metrics


def _image_source(name: str) -> Callable[[], Any]:
    return functools.partial(image_open_normalized, name)


def _train_finetune(
    job: TrainingJob,
    monitor: Any,
    spec: Any,
    labels: tuple[str, ...],
    part: Partition,
    files: dict[int, str],
) -> TrainOutput:
    # Fine-tuning starts from accurate mode's model, whatever the project's backbone: the
    # bar it must clear is the best frozen-feature model a user can have in seconds, and
    # when it cannot, what it keeps is that model, not a weaker one.
    spec = ml.get_backbone(FINETUNE_BACKBONE)
    progress = Progress(monitor, FINETUNE_STAGES)
    ids = [i for i, _ in part.train + part.val + part.held_out]
    vectors = _embeddings(
        list(dict.fromkeys(ids)), backbone=spec.name, progress=progress, monitor=monitor
    )
    # The head starts from a linear probe on the training images' cached embeddings; scored
    # on validation (epoch 0), it is the score every fine-tuned epoch must beat.
    probe, _ = _quick_fit(
        spec, labels, part, vectors, on_progress=None, should_stop=monitor.should_stop
    )
    # What ships if no epoch beats it: the same head refit on training + validation images,
    # as accurate mode trains it; only when the held-out images are not the validation ones.
    frozen = probe
    if part.val and part.evaluated_on == "test":
        everything = dataclasses.replace(part, train=sorted(part.train + part.val))
        frozen, _ = _quick_fit(
            spec, labels, everything, vectors, on_progress=None, should_stop=monitor.should_stop
        )
    held_x, probe_y, _ = _arrays(part.held_out, vectors)
    probe_metrics = ml.evaluate(
        ml.head_probabilities(frozen.head_state, held_x), probe_y, labels=list(labels)
    )

    progress.begin("training")
    result = _finetune(job, monitor, spec, labels, part, files, progress, probe.head_state)
    outcome = _finetune_outcome(result, has_probe=bool(part.val))
    model_state = result.model_state
    if outcome["kept_probe"]:
        kept = ml.build_classifier(spec.name, len(labels), head_state=frozen.head_state)
        model_state = {
            k.removeprefix("classifier."): v.detach().clone() for k, v in kept.state_dict().items()
        }
        if frozen is not probe and "finetune" in outcome:
            outcome["finetune"]["reason"] += (
                f" The version is that model refit on all {len(part.train) + len(part.val)} "
                "training and validation images, as accurate mode trains it."
            )

    # Exported first, then evaluated through ONNX Runtime: the metrics are those of the very
    # file that will serve predictions (and ORT runs it faster than PyTorch on a CPU).
    progress.begin("exporting")
    model = ml.build_classifier(spec.name, len(labels), model_state=model_state).eval()
    held_ids = [i for i, _ in part.held_out]
    held_y = np.asarray([y for _, y in part.held_out], dtype=np.int64)
    check_images = [_image_source(files[i])() for i in held_ids[:EXPORT_CHECK_IMAGES]]
    onnx_bytes = ml.export_checked(model, spec=spec, images=check_images)
    del model, check_images

    progress.begin("evaluating")
    # threads=0: ONNX Runtime's default, every core, spinning (this is a training worker).
    predictor = ml.Predictor.load(
        onnx_bytes, labels=labels, backbone=spec.name, threads=0, spinning=True
    )
    chunks = []
    for start in range(0, len(held_ids), EVAL_BATCH):
        _check_stop(monitor)
        batch = [_image_source(files[i])() for i in held_ids[start : start + EVAL_BATCH]]
        chunks.append(predictor.predict(batch))
        progress.update((start + EVAL_BATCH) / max(len(held_ids), 1))
    probs = np.concatenate(chunks) if chunks else np.zeros((0, len(labels)), np.float32)
    metrics = ml.evaluate(probs, held_y, labels=list(labels), ids=held_ids)

    head_state = frozen.head_state if outcome["kept_probe"] else result.head_state
    metrics = _final_metrics(
        job,
        metrics,
        part,
        progress,
        result,
        # The frozen-feature model on the same held-out images: an honest comparison.
        linear_probe={
            "accuracy": probe_metrics.get("accuracy"),
            "macro_f1": probe_metrics.get("macro_f1"),
        },
        device=result.device,
        **outcome,
    )
    return TrainOutput(
        backbone=spec.name,
        labels=labels,
        metrics=metrics,
        files=[
            ("onnx_file", "model.onnx", onnx_bytes),
            ("head_file", "head.pt", ml.state_bytes(head_state or probe.head_state)),
            ("model_file", "model.pt", ml.state_bytes(model_state)),
        ],
    )


def _finetune(
    job: TrainingJob,
    monitor: Any,
    spec: Any,
    labels: tuple[str, ...],
    part: Partition,
    files: dict[int, str],
    progress: Progress,
    init_head_state: dict[str, Any],
) -> Any:
    """``ml.fit_finetune``, resumed from the checkpoint an earlier attempt left, storing a
    new one after every epoch (see ``apps.training.checkpoints``)."""

    def on_checkpoint(epoch: int, data: bytes) -> None:
        if not checkpoint_save(job, epoch=epoch, data=data):
            monitor.lost = True  # another attempt holds the job: stop at the next batch

    arguments: dict[str, Any] = {
        "spec": ml.FinetuneSpec(
            backbone=spec.name, labels=labels, unfreeze_blocks=FINETUNE_UNFREEZE_BLOCKS
        ),
        "on_progress": progress.on_event,
        "should_stop": monitor.should_stop,
        "init_head_state": init_head_state,
        "on_checkpoint": on_checkpoint,
        "stop_if_probe_perfect": len(part.val) >= PERFECT_PROBE_MIN_VAL_IMAGES,
    }
    train_items = [(_image_source(files[i]), y) for i, y in part.train]
    val_items = [(_image_source(files[i]), y) for i, y in part.val]
    resume = checkpoint_load(job)
    if resume is not None:
        try:
            return ml.fit_finetune(train_items, val_items, resume=resume, **arguments)
        except ml.CheckpointError:
            logger.warning("training job %s: checkpoint refused; starting afresh", job.pk)
    return ml.fit_finetune(train_items, val_items, **arguments)
