"""Reference: a torchvision-references-style fine-tune of EfficientNet-Lite0 on CPU.

Train transform RandomResizedCrop(224) + horizontal flip, val transform resize 256 / centre-crop
224, normalise(0.5, 0.5); AdamW, cosine LR over all steps, label smoothing 0.1, evaluation on val
after every epoch. On a 2-core CPU only the last ``--unfreeze-blocks`` MBConv blocks plus the 1x1
head convolution and the new classifier are trained (``-1`` trains everything); the frozen part
stays in eval mode so its BatchNorm statistics keep their ImageNet values.

    .venv/bin/python -m bench.reference_finetune [--epochs 5] [--unfreeze-blocks 3] [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from bench.common import BenchResult, add_common_args, peak_rss_mb, split_dirs, write_result
from bench.reference import (
    class_names,
    eval_transform,
    image_folder,
    load_backbone,
    seed_everything,
    train_transform,
)


def trainable_modules(model: nn.Module, unfreeze_blocks: int) -> list[nn.Module]:
    """Freeze the backbone except its last ``unfreeze_blocks`` blocks, head conv and classifier."""
    if unfreeze_blocks < 0:
        return [model]
    tail = list(model._blocks)[len(model._blocks) - unfreeze_blocks :] if unfreeze_blocks else []
    modules = [*tail, model._conv_head, model._bn1, model._fc]
    model.requires_grad_(False)
    for module in modules:
        module.requires_grad_(True)
    return modules


def train_one_epoch(
    model: nn.Module,
    modules: list[nn.Module],
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss_fn: nn.Module,
) -> float:
    model.eval()  # frozen layers keep their BatchNorm statistics
    for module in modules:
        module.train()
    total_loss, seen = 0.0, 0
    for images, targets in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(targets)
        seen += len(targets)
    return total_loss / seen


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct, seen = 0, 0
    for images, targets in loader:
        correct += (model(images).argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    return correct / seen


def run(args: argparse.Namespace) -> BenchResult:
    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    per_class = 8 if args.quick else None
    epochs = 1 if args.quick else args.epochs
    train_dir, val_dir = split_dirs(args.data)

    started = time.perf_counter()
    train_set = image_folder(train_dir, train_transform(), per_class=per_class)
    val_set = image_folder(val_dir, eval_transform(), per_class=per_class)
    model = load_backbone(num_classes=len(class_names(train_set)))
    modules = trainable_modules(model, args.unfreeze_blocks)
    params = [p for p in model.parameters() if p.requires_grad]

    train_loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        drop_last=len(train_set) > args.batch_size,
    )
    val_loader = DataLoader(val_set, batch_size=args.batch_size, num_workers=args.workers)
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs * len(train_loader)
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    history = []
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        loss = train_one_epoch(model, modules, train_loader, optimizer, scheduler, loss_fn)
        train_s = time.perf_counter() - epoch_start
        val_accuracy = evaluate(model, val_loader)
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(loss, 4),
                "val_accuracy_pct": round(100 * val_accuracy, 2),
                "train_s": round(train_s, 2),
                "epoch_s": round(time.perf_counter() - epoch_start, 2),
            }
        )
        print(history[-1], flush=True)
    total = time.perf_counter() - started

    best = max(history, key=lambda row: row["val_accuracy_pct"])
    return BenchResult(
        name="reference_finetune" + ("_quick" if args.quick else ""),
        title="Reference: fine-tune (torchvision-references style, eager PyTorch)",
        params={
            "data": str(args.data),
            "train_images": len(train_set),
            "val_images": len(val_set),
            "epochs": epochs,
            "unfreeze_blocks": args.unfreeze_blocks,
            "trainable_params": sum(p.numel() for p in params),
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "torch_threads": torch.get_num_threads(),
            "seed": args.seed,
        },
        metrics={
            "best_val_accuracy_pct": best["val_accuracy_pct"],
            "best_epoch": best["epoch"],
            "final_val_accuracy_pct": history[-1]["val_accuracy_pct"],
            "wall_total_s": round(total, 2),
            "mean_epoch_s": round(sum(row["epoch_s"] for row in history) / len(history), 2),
            **peak_rss_mb(),
        },
        notes=[f"epoch {row['epoch']}: {row}" for row in history],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--unfreeze-blocks",
        type=int,
        default=3,
        help="train the last N MBConv blocks (+ head conv + classifier); -1 trains everything",
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
