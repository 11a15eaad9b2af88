"""Data-parallel training across processes (``torchrun --nproc_per_node N -m xta train-adapter ...``).

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; when ``WORLD_SIZE > 1`` the training loop
(:func:`toolkit.train.run_loop`) joins a process group (``gloo`` on CPU, ``nccl`` on CUDA with one GPU per
process, ``cuda:$LOCAL_RANK``; ``$XTA_DIST_BACKEND`` overrides the backend), and:

* the plan of optimizer steps is the one a single process would make with
  ``gradient_accumulation_steps * world_size`` micro-batches per step; rank ``r`` runs micro-batches
  ``r, r + W, r + 2W, ...`` of each step (disjoint, deterministic, no sampler state);
* each micro-batch's loss is scaled by ``1 / (accumulation * world_size)`` and the gradients of the
  trainable tensors only (adapter, fusion, heads; the backbone is frozen and has none) are summed over
  the ranks with ``all_reduce`` before the optimizer step. The update therefore equals, up to float
  summation order, a single-process run with ``gradient_accumulation_steps * world_size`` micro-batches
  (the effective batch is ``batch_size * accumulation * world_size``); every rank applies the same
  AdamW step and holds the same weights;
* only rank 0 writes files (checkpoints, the adapter, its card); the other ranks wait for it.

No DistributedDataParallel wrapper: the frozen backbone would make it track unused parameters, and a
manual all-reduce of the few trainable gradients is simpler and exact.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)


def world_size() -> int:
    """``$WORLD_SIZE`` (set by torchrun), 1 when not launched by it."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def rank() -> int:
    try:
        return int(os.environ.get("RANK", "0")) if world_size() > 1 else 0
    except ValueError:
        return 0


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0")) if world_size() > 1 else 0
    except ValueError:
        return 0


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one process that writes files."""
    return rank() == 0


def active() -> bool:
    """True when this process belongs to a process group of more than one process."""
    import torch.distributed as dist

    return world_size() > 1 and dist.is_available() and dist.is_initialized()


def init(device) -> bool:
    """Join the process group torchrun describes (once per process); ``nccl`` for CUDA, else ``gloo``.
    False (nothing done) in a single process."""
    if world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        from .errors import ConfigError

        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if not dist.is_initialized():
        # $XTA_DIST_BACKEND overrides: gloo lets two processes share one GPU (nccl refuses that)
        backend = os.environ.get("XTA_DIST_BACKEND") or ("nccl" if torch.device(device).type == "cuda" else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend=backend)
        log.info("rank %d/%d joined the %s process group", rank(), world_size(), backend)
    return True


def shard(micro_batches: list, r: int | None = None, w: int | None = None) -> list:
    """This rank's micro-batches of one optimizer step: every ``w``-th from ``r``."""
    r = rank() if r is None else r
    w = world_size() if w is None else w
    return micro_batches[r::w]


def all_reduce_grads(params: Iterable) -> None:
    """Sum the gradients of ``params`` (the trainable tensors) over the ranks; a parameter no local
    micro-batch reached gets a zero gradient first, so every rank takes part in every reduction."""
    if not active():
        return
    import torch
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def sum_scalar(value: float, device) -> float:
    """``value`` summed over the ranks (the step's loss, for progress)."""
    if not active():
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def broadcast(obj):
    """Rank 0's ``obj`` (a JSON value) on every rank; sent as JSON bytes, never pickled."""
    if not active():
        return obj
    import json

    import torch
    import torch.distributed as dist

    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    data = json.dumps(obj).encode() if is_main() else b""
    size = torch.tensor([len(data)], dtype=torch.int64, device=dev)
    dist.broadcast(size, src=0)
    buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=dev)
    if is_main():
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev)
    dist.broadcast(buf, src=0)
    return json.loads(bytes(buf.cpu().tolist()).decode())


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()
