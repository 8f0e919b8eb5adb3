"""Agreement between data-parallel ranks for precision decisions (identity in a 1-process run).

Controllers call these on the values their decisions are made from, so that every rank of a
``torch.distributed`` run switches identically by construction, not by the luck of bit-identical
floating point: ``agree`` hands every rank rank 0's value, ``all_reduce_sum`` sums statistics
over the ranks. With no process group initialised both return their input unchanged and cost
nothing. A controller must call them at the same points on every rank (its control flow depends
only on agreed state), which the per-epoch check in ``hostsw.train.distributed`` verifies.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def active() -> bool:
    """True inside a distributed run with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agree(value: T) -> T:
    """Rank 0's ``value`` on every rank (any picklable object: a number, a tuple of decisions)."""
    if not active():
        return value
    box: list[Any] = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over all ranks (a new float64 tensor on the CPU side
    of gloo, or on the values' device for NCCL); the same bits on every rank."""
    out = values.detach().to(torch.float64).clone()
    if active():
        if dist.get_backend() == "nccl" and out.device.type != "cuda":
            out = out.cuda()
        dist.all_reduce(out)
    return out.cpu()
