"""One rank of the data-parallel tests (run under torch.distributed.run by test_distributed.py).

``dist_worker.py DIR`` trains the config below twice in one process group: ``DIR/full``
uninterrupted, then ``DIR/killed``, where rank 1 SIGKILLs itself right after optimizer step
KILL_STEP (epoch 2). Every rank dumps its final weights, precision state and the precision
changes its board applied to ``DIR/full-rank{r}.pt``, so the test can compare the ranks.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

from hostsw.train import TrainOptions, Trainer, load_config
from hostsw.train import distributed as dist
from hostsw.train.config import apply_overrides
from hostsw.train.rundir import RunDir, start_fresh

#: 128 samples / batch 32 = 4 steps per epoch; the kill lands inside epoch 2
KILL_STEP = 6
OVERRIDES = ["epochs=3", "limit_train=128", "limit_test=64", "batch_size=32",
             # AdaPT with short windows, so it switches precision within these 12 steps
             "controller.r_lwr=2", "controller.r_upr=4", "controller.lb_lwr=1",
             "controller.lb_upr=2", "controller.buff=1"]
OPTIONS = dict(device="cpu", progress=False, threads=1)


def config():
    return apply_overrides(load_config("mlp-digits-adapt"), OVERRIDES)


def _trainer(out: Path) -> Trainer:
    cfg = config()
    ctx = dist.current()
    run = dist.main_first(lambda: start_fresh(out, cfg), ctx) or RunDir(out)
    trainer = Trainer(cfg, run, TrainOptions(**OPTIONS, log=lambda s: None))
    applied = trainer.applied = []
    original = trainer.board.set

    def recording_set(layer, kind, p, reason, force_log=False):
        changed = original(layer, kind, p, reason, force_log)
        if changed or force_log:
            applied.append({"step": trainer.board.step, "epoch": trainer.board.epoch,
                            "layer": layer, "kind": kind, "bits": p.bits, "frac": p.frac,
                            "reason": reason})
        return changed
    trainer.board.set = recording_set
    return trainer


def main(root: Path) -> None:
    ctx = dist.init_from_env("cpu", timeout_s=60)
    full = _trainer(root / "full")
    full.fit()
    torch.save({"model": full.model.state_dict(),
                "precision": dist.precision_state(full.layers),
                "applied": full.applied, "world": (ctx.rank, ctx.world_size, ctx.backend)},
               root / f"full-rank{ctx.rank}.pt")
    dist.barrier(ctx)
    killed = _trainer(root / "killed")
    step_end = killed.controller.on_step_end

    def kill_at(loss):
        step_end(loss)
        if killed.step == KILL_STEP and ctx.rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
    killed.controller.on_step_end = kill_at
    killed.fit()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
