"""Data-parallel training on torch.distributed: the process group, sharding, the step's
all-reduced figures and the check that every rank holds the same precision state.

The loop stays one loop. With one process every helper here is the identity (no process group,
no collective), so a single-process run is bit-for-bit what it was. Under ``torchrun`` (or
``hostsw train --nproc N``, which launches it) each rank trains on its slice of every global
batch; DDP all-reduces the gradients, so every rank's optimizer applies the same update to the
same weights. The controllers see only values that are identical on every rank (all-gathered
loss and accuracy summed in rank order, all-reduced gradients, identical weights), and DDP
broadcasts rank 0's buffers -- the layers' precision state and dither counters -- before every
forward, so rank 0's decisions are the ones in force. ``check_precision_state`` verifies it once
per epoch and names the first layer that differs.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch.utils.data.distributed import DistributedSampler

from hostsw.errors import ConfigError, HostswError

#: default process-group timeout: a rank that stops answering stops the others after this long
DEFAULT_TIMEOUT_S = 300.0
#: back-ends that cannot run one engine per rank yet (one board per rank needs several boards)
NOT_DISTRIBUTED_BACKENDS = ("board",)


class DistributedError(HostswError, RuntimeError):
    """The ranks of a run cannot go on together (a precision-state mismatch, a lost peer)."""


class LostPeerError(DistributedError):
    """Another rank died or stopped answering: the run stops and can be resumed."""


@dataclass(frozen=True)
class DistContext:
    """Who this process is in the run (rank 0 of 1 without torch.distributed)."""

    rank: int = 0
    world_size: int = 1
    #: torch.distributed back-end: gloo (CPU) | nccl (GPU); None without a process group
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CONTEXT = DistContext()


def shared_stamp(ctx: DistContext) -> str:
    """Rank 0's time of day (YYYYmmdd-HHMMSS), the same string on every rank: it names the
    default run folder, which ranks reading their own clocks could name differently."""
    from hostsw.train.rundir import run_stamp
    stamp = [run_stamp()]
    if ctx.active:
        tdist.broadcast_object_list(stamp, src=0)
    return stamp[0]


def current() -> DistContext:
    return _CONTEXT


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(device: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> DistContext:
    """Join the process group torchrun describes in the environment (gloo on CPU, NCCL when the
    run uses CUDA); a no-op with one process."""
    global _CONTEXT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _CONTEXT = DistContext()
        return _CONTEXT
    rank = int(os.environ["RANK"])
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if cuda and tdist.is_nccl_available() else "gloo"
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local % torch.cuda.device_count())
    if not tdist.is_initialized():
        tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    _CONTEXT = DistContext(rank, world, backend)
    return _CONTEXT


def shutdown() -> None:
    global _CONTEXT
    if tdist.is_initialized():
        tdist.destroy_process_group()
    _CONTEXT = DistContext()


def rank_device(device: torch.device, ctx: DistContext) -> torch.device:
    """Each rank on its own GPU (LOCAL_RANK); CPU ranks share the CPU."""
    if ctx.backend == "nccl" and device.type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return device


# --- validation (before any work) ------------------------------------------------------------
def check_world(batch_size: int, n_train: int, world_size: int, backend: str) -> None:
    """One-line errors for what a data-parallel run cannot honour."""
    if world_size <= 1:
        return
    if backend in NOT_DISTRIBUTED_BACKENDS:
        raise ConfigError(f"--backend {backend} cannot run distributed yet (one {backend} per "
                          "rank): use --backend software, reference or csim, or drop --nproc")
    if batch_size % world_size:
        lo = batch_size - batch_size % world_size
        raise ConfigError(f"batch_size {batch_size} does not divide over {world_size} processes "
                          f"(the per-process batch is batch_size / N): use --batch-size {lo or world_size} "
                          f"or --nproc dividing {batch_size}")
    if world_size > n_train:
        raise ConfigError(f"--nproc {world_size} is more than the {n_train} training samples: use "
                          f"--nproc {n_train} or fewer")


def local_batch(batch_size: int, ctx: DistContext) -> int:
    return batch_size // ctx.world_size


# --- data --------------------------------------------------------------------------------------
def shard_batches(batches, ctx: DistContext):
    """This rank's slice of every global batch (the batches of the 1-process run, augmentation
    included, so the global batch and its order are unchanged). ``DistributedSampler`` strides the
    batch over the ranks and pads a short last batch with its first samples, so every rank
    holds the same number of samples and DDP's mean of the rank means is the batch mean."""
    if not ctx.active:
        yield from batches
        return
    for x, y in batches:
        idx = torch.tensor(list(DistributedSampler(range(len(y)), num_replicas=ctx.world_size,
                                                   rank=ctx.rank, shuffle=False)))
        yield x[idx.to(x.device)], y[idx.to(y.device)]


# --- dither streams ----------------------------------------------------------------------------
def error_seed(seed: int, rank: int) -> int:
    """The error (gradient) dither seed of a rank: the run's seed on rank 0 (a 1-process run is
    unchanged), a distinct stream on every other rank."""
    if rank == 0:
        return int(seed)
    digest = hashlib.blake2b(f"hostsw-error-dither:{seed}:{rank}".encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "little")


def seed_error_streams(layers: dict, seed: int, ctx: DistContext) -> None:
    """Weights keep the run's seed on every rank: every rank quantizes the same master weights
    with the same dither, so all hold one identical quantized copy and DDP's averaged gradient
    belongs to that copy. Errors are quantized per sample: sharing a stream would give the
    same dither pattern to different samples on different ranks, correlating the rounding
    errors that the all-reduce is meant to average out, so the rank enters the error key."""
    if not ctx.active or ctx.rank == 0:
        return
    s = error_seed(seed, ctx.rank)
    for m in layers.values():
        # _settings is what the layer re-applies after load_state_dict (see QuantLayerMixin)
        m._settings["grad"]["seed"] = s
        m._reapply_settings()


# --- the step's figures --------------------------------------------------------------------
def step_totals(loss_value: float, correct: int, n: int, ctx: DistContext
                ) -> tuple[float, int, int]:
    """(mean loss, correct, samples) of the global batch, identical on every rank: each rank's
    (loss sum, correct, n) is all-gathered and summed in rank order (float64), so no rank sees a
    differently rounded sum."""
    if not ctx.active:
        return loss_value, correct, n
    mine = torch.tensor([loss_value * n, float(correct), float(n)], dtype=torch.float64)
    parts = [torch.empty_like(mine) for _ in range(ctx.world_size)]
    _collective(tdist.all_gather, parts, _to_comm(mine, ctx))
    total = torch.zeros(3, dtype=torch.float64)
    for p in parts:
        total += p.cpu()
    n_all = int(total[2].item())
    return float(total[0].item()) / n_all, int(total[1].item()), n_all


def _to_comm(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    return t.cuda() if ctx.backend == "nccl" else t


def is_comm_failure(e: BaseException) -> bool:
    """A collective that failed because a peer died or timed out (DistBackendError, or gloo's
    plain RuntimeError from DDP's all-reduce inside backward)."""
    text = str(e)
    if isinstance(e, DistributedError):
        return False
    return (isinstance(e, getattr(tdist, "DistBackendError", ())) or
            (isinstance(e, RuntimeError) and any(k in text for k in (
                "gloo", "NCCL", "Connection reset", "Connection closed", "timed out",
                "Timed out"))))


def lost_peer(e: BaseException) -> LostPeerError:
    """One line for a collective that failed: gloo's and NCCL's texts (a source path, a port)
    are reduced to what the user can act on."""
    text = str(e)
    if "timed out" in text.lower():
        what = ("another process of the run stopped answering (no reply within the process "
                "group's timeout, --dist-timeout)")
    else:
        what = "another process of the run stopped (its connection closed)"
    return LostPeerError(f"{what}: resume the run directory with --resume DIR and the same "
                         "--nproc")


def _collective(fn, *args):
    try:
        return fn(*args)
    except RuntimeError as e:
        if is_comm_failure(e):
            raise lost_peer(e) from None
        raise


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        _collective(tdist.barrier)


def broadcast_object(obj, ctx: DistContext):
    """rank 0's ``obj`` on every rank."""
    if not ctx.active:
        return obj
    box = [obj]
    _collective(tdist.broadcast_object_list, box, 0)
    return box[0]


def gather_objects(obj, ctx: DistContext) -> list:
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world_size
    _collective(tdist.all_gather_object, out, obj)
    return out


# --- the model -------------------------------------------------------------------------------
def wrap_model(model: torch.nn.Module, device: torch.device, ctx: DistContext):
    """DDP around the model (the gradient all-reduce); the model itself with one process.

    DDP's default buffer sync (``forward_sync_buffers``, formerly ``broadcast_buffers``) sends
    rank 0's buffers before every training forward: the precision bits/frac and the dither
    counters, so rank 0's precision decisions are in force on every rank by construction."""
    if not ctx.active:
        return model
    from torch.nn.parallel import DistributedDataParallel
    ids = [device] if device.type == "cuda" else None
    ddp = DistributedDataParallel(model, device_ids=ids)
    ddp.register_comm_hook(None, _sum_hook)
    return ddp


def _sum_hook(state, bucket):
    """DDP comm hook: the plain sum of the ranks' gradients (DDP's default divides by N; with
    ``rank_share`` the sum is the 1-process gradient)."""
    fut = tdist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def rank_share(loss: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's share of the global batch's loss: its mean loss / N (the regularization terms
    too, which every rank adds). The errors that reach the error quantizers then have the
    magnitudes of the 1-process run (d loss / d out = 1/global batch per sample), so a fixed
    error grid rounds the same values; the summed all-reduce restores the global mean
    gradient. Unchanged with one process."""
    if not ctx.active:
        return loss
    return loss / ctx.world_size


def precision_state(layers: dict) -> dict[str, tuple]:
    """(bits, frac, enabled) of every layer's tensors (grad_w when bifurcated). A frac that
    follows the local tensor's range (frac_auto: activations, errors) is per rank by design and
    reads as None here."""
    out = {}
    for name, m in layers.items():
        for kind in ("weight", "act", "grad", "grad_w"):
            if kind == "grad_w" and not m.bifurcated:
                continue
            p = m.precision(kind)
            out[f"{name}.{kind}"] = (p.bits, p.frac, bool(m.quantizer(kind).enabled))
    return out


def check_precision_state(layers: dict, ctx: DistContext, epoch: int) -> None:
    """Every rank's precision state equals rank 0's (once per epoch; one small all-gather)."""
    if not ctx.active:
        return
    states = gather_objects(precision_state(layers), ctx)
    ref = states[0]
    for rank, st in enumerate(states[1:], start=1):
        for key in ref:
            if st.get(key) != ref[key]:
                raise DistributedError(
                    f"precision state differs across processes after epoch {epoch}: layer "
                    f"{key} is {st.get(key)} on rank {rank} but {ref[key]} on rank 0 (a "
                    "controller decided from per-rank values): report it; run with one process "
                    "meanwhile")


def main_first(fn, ctx: DistContext):
    """``fn()`` on rank 0 alone (creating the run directory); the other ranks wait for it and get
    None, or rank 0's user error as their own."""
    if not ctx.active:
        return fn()
    if ctx.is_main:
        try:
            out = fn()
        except HostswError as e:
            broadcast_object(str(e), ctx)
            raise
        broadcast_object(None, ctx)
        return out
    message = broadcast_object(None, ctx)
    if message is not None:
        raise ConfigError(message)
    return None
