"""`hostsw train --nproc N` and `torchrun ... -m hostsw train`: the data-parallel entry points.

``--nproc N`` launches torch's own elastic agent (what ``torchrun --standalone`` runs) with N
copies of the same command line minus ``--nproc``; under torchrun each copy joins the process
group, trains its rank and only rank 0 prints. A user error is printed once (by rank 0).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import uuid

from hostsw.errors import ConfigError, HostswError


def add_distributed_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--nproc", type=int, metavar="N",
                   help="data-parallel training on N processes (torch.distributed; gloo on CPU, "
                   "NCCL on GPUs); the batch size is the global batch, split over the N")
    t.add_argument("--dist-timeout", dest="dist_timeout", type=float, metavar="S",
                   help="seconds a process waits for the others before the run stops (default "
                   "300): a rank that dies stops the rest with a message, not a hang")


def _strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(args: argparse.Namespace, argv: list[str]) -> int:
    """N copies of this command under torch.distributed's elastic agent; their exit status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    n = args.nproc
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          monitor_interval=0.5)
    # the agent's own log lines (worker start/stop) would bury the one line a rank printed
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "hostsw", *_strip_nproc(argv))
    except ChildFailedError as e:
        codes = {rank: f.exitcode for rank, f in e.failures.items()}
        died = {r: c for r, c in codes.items() if c < 0}
        if died:  # killed by a signal: the others were stopped
            # the agent SIGTERMs the survivors: name the rank that died first (SIGKILL, crash)
            r, c = min(died.items(), key=lambda rc: (rc[1] == -15, rc[0]))
            run = args.resume or args.out or "RUN_DIR"
            print(f"hostsw: error: process {r} of {n} died (signal {-c}); the others stopped: "
                  f"continue with `hostsw train --resume {run} --nproc {n}`", file=sys.stderr)
        elif 2 not in codes.values():  # a user error is printed by rank 0 already
            print(f"hostsw: error: {len(codes)} of {n} processes failed (exit "
                  f"{', '.join(map(str, codes.values()))}): see their messages above",
                  file=sys.stderr)
        return 2 if died or 2 in codes.values() else 1
    return 0


def distributed(cmd_train):
    """``cmd_train`` as a launcher (--nproc N > 1), as one rank (under torchrun), or unchanged."""
    def run(args: argparse.Namespace) -> int:
        from hostsw.train import distributed as dist
        nproc = getattr(args, "nproc", None)
        if nproc is not None and nproc < 1:
            raise ConfigError(f"--nproc {nproc}: use 1 or more")
        if dist.launched_by_torchrun():
            return _as_rank(cmd_train, args)
        if nproc is not None and nproc > 1:
            if getattr(args, "backend", "software") in dist.NOT_DISTRIBUTED_BACKENDS:
                dist.check_world(2, 2, nproc, args.backend)  # one line before any launch
            return launch(args, args.argv)
        return cmd_train(args)
    return run


def _as_rank(cmd_train, args: argparse.Namespace) -> int:
    from hostsw.train import distributed as dist
    timeout = args.dist_timeout if args.dist_timeout is not None else dist.DEFAULT_TIMEOUT_S
    if timeout <= 0:
        raise ConfigError(f"--dist-timeout {timeout}: use a positive number of seconds")
    ctx = dist.init_from_env(args.device, timeout)
    try:
        if ctx.is_main:
            return cmd_train(args)
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                return cmd_train(args)
            except dist.DistributedError:
                raise
            except HostswError:  # the same user error as rank 0's, which printed it
                return 2
    except RuntimeError as e:  # a peer died inside DDP's backward all-reduce
        if dist.is_comm_failure(e):
            raise dist.lost_peer(e) from None
        raise
    finally:
        dist.shutdown()
