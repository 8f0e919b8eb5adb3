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
import os
import sys
import tempfile
import uuid
from pathlib import Path

from hostsw.errors import ConfigError, HostswError


def add_distributed_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("--nproc", type=int, metavar="N",
                   help="data-parallel training on N processes (torch.distributed; gloo on CPU, "
                   "NCCL on GPUs); the batch size is the global batch, split over the N")
    t.add_argument("--dist-timeout", dest="dist_timeout", type=float, metavar="S",
                   help="seconds a process waits for the others before the run stops (default "
                   "300): a rank that dies stops the rest with a message, not a hang")


#: set by ``--nproc``'s launcher for its ranks: a folder where a rank that lost a peer leaves its
#: reason, so that the launcher prints the run's one line instead of one line per survivor
LAUNCHER_DIR_ENV = "HOSTSW_LAUNCHER_DIR"
#: a rank's exit status when it stopped because another rank died or stopped answering
EXIT_LOST_PEER = 3


def check_dist_timeout(seconds: float | None) -> None:
    if seconds is not None and not 0 < seconds < float("inf"):  # nan fails both comparisons
        raise ConfigError(f"--dist-timeout {seconds}: use a positive number of seconds, e.g. 300")


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
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    n = args.nproc
    # the agent's own log lines (worker start/stop) would bury the one line a rank printed
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    # the agent's per-rank folders (error files) go into a temp folder removed afterwards; its
    # default, tempfile.mkdtemp("torchelastic_"), stays behind after every launch
    with tempfile.TemporaryDirectory(prefix="hostsw-launch-") as logs:
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n,
                              run_id=str(uuid.uuid4()), rdzv_backend="c10d",
                              rdzv_endpoint="localhost:0", max_restarts=0,
                              monitor_interval=0.5, logs_specs=DefaultLogsSpecs(log_dir=logs))
        os.environ[LAUNCHER_DIR_ENV] = logs  # the ranks inherit the environment
        try:
            elastic_launch(config, entrypoint=sys.executable)("-m", "hostsw", *_strip_nproc(argv))
        except ChildFailedError as e:
            codes = {rank: f.exitcode for rank, f in e.failures.items()}
            lost = {int(f.stem.rsplit("-", 1)[1]): f.read_text()
                    for f in Path(logs).glob("lost-peer-*")}
            return _launch_failed(args, n, codes, lost)
        finally:
            os.environ.pop(LAUNCHER_DIR_ENV, None)
    return 0


def _launch_failed(args: argparse.Namespace, n: int, codes: dict[int, int],
                   lost: dict[int, str]) -> int:
    """The run's one line after a failed launch; the exit status (2: stopped, resumable or a user
    error that rank 0 printed; 1: a crash whose traceback a rank printed)."""
    from hostsw.train.distributed import DEFAULT_TIMEOUT_S
    run = args.resume or args.out or "RUN_DIR"
    resume = f"continue with `hostsw train --resume {run} --nproc {n}`"
    died = {r: c for r, c in codes.items() if c < 0}
    silent = sorted(r for r in range(n) if r not in lost)
    if lost and any("stopped answering" in why for why in lost.values()):
        # the survivors timed out; the agent then killed the rank that hung (its signal says
        # nothing about why it stopped)
        who = ", ".join(map(str, silent)) or "?"
        print(f"hostsw: error: process {who} of {n} stopped answering for --dist-timeout "
              f"{args.dist_timeout or DEFAULT_TIMEOUT_S:g} s; the others stopped: {resume}",
              file=sys.stderr)
    elif any(c != -15 for c in died.values()) or (died and 2 not in codes.values()):
        # killed by a signal, the others were stopped: the agent SIGTERMs the survivors, so
        # name the rank that died first (SIGKILL, a crash)
        r, c = min(died.items(), key=lambda rc: (rc[1] == -15, rc[0]))
        print(f"hostsw: error: process {r} of {n} died (signal {-c}); the others stopped: "
              f"{resume}", file=sys.stderr)
    elif 2 not in codes.values():  # a user error is printed by rank 0 already (the agent may
        # have SIGTERMed it after its line, as it stops the workers once one has exited)
        print(f"hostsw: error: {len(codes)} of {n} processes failed (exit "
              f"{', '.join(map(str, codes.values()))}): see their messages above",
              file=sys.stderr)
        return 1
    return 2


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
    check_dist_timeout(args.dist_timeout)
    timeout = args.dist_timeout if args.dist_timeout is not None else dist.DEFAULT_TIMEOUT_S
    ctx = dist.init_from_env(args.device, timeout)
    try:
        try:
            if getattr(args, "out", None) is None:  # one default run folder for all ranks
                args.out_stamp = dist.shared_stamp(ctx)
            if ctx.is_main:
                return cmd_train(args)
            with contextlib.redirect_stdout(io.StringIO()):
                return cmd_train(args)
        except RuntimeError as e:  # a peer died inside DDP's backward all-reduce
            if dist.is_comm_failure(e):
                raise dist.lost_peer(e) from None
            raise
    except dist.LostPeerError as e:
        report = os.environ.get(LAUNCHER_DIR_ENV)
        if not report:  # under torchrun: this rank's own line
            raise
        Path(report, f"lost-peer-{ctx.rank}").write_text(str(e))  # --nproc prints the line
        return EXIT_LOST_PEER
    except HostswError as e:
        # every rank meets the same user error (the checks read the same config and files, and
        # rank 0's run-folder errors are broadcast): rank 0 prints it once; the others wait for
        # that before they exit, or the launcher would stop rank 0 before its line is out
        if ctx.is_main:
            print(f"hostsw: error: {e}", file=sys.stderr, flush=True)
        _wait_for_peers(ctx)
        return 2
    finally:
        dist.shutdown()


def _wait_for_peers(ctx, timeout_s: float = 30.0) -> None:
    """A barrier that gives up after ``timeout_s`` (a rank that is not failing too)."""
    import datetime
    import torch.distributed as tdist
    try:
        if ctx.backend == "gloo":
            tdist.monitored_barrier(timeout=datetime.timedelta(seconds=timeout_s))
        else:
            tdist.barrier()
    except RuntimeError:
        pass
