"""PyTorch's intra-op thread count, set for one block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` intra-op PyTorch threads.

    The quick head is a [N, 1280] x [1280, C] problem: extra OpenMP threads only add
    synchronisation, and on a busy 2-core machine they made 300 steps take 13 s instead of
    0.5 s."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
