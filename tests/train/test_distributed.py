"""Data-parallel training (hostsw.train.distributed): sharding, bad input, and a real 2-process
gloo run on CPU whose ranks must agree bit for bit and resume exactly after a SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hostsw.errors import ConfigError
from hostsw.train import distributed as dist
from hostsw.train.distributed import DistContext

REPO = Path(__file__).resolve().parents[2]


# --- one process: every helper is the identity ------------------------------------------------
def test_single_process_helpers_are_identity():
    ctx = DistContext()
    model = torch.nn.Linear(2, 2)
    assert dist.wrap_model(model, torch.device("cpu"), ctx) is model
    assert dist.step_totals(0.75, 3, 8, ctx) == (0.75, 3, 8)
    batches = [(torch.arange(5.0), torch.arange(5))]
    (x, y), = list(dist.shard_batches(iter(batches), ctx))
    assert x is batches[0][0] and y is batches[0][1]
    assert dist.error_seed(7, 0) == 7  # rank 0 keeps the run's error stream


def test_shard_strides_the_global_batch_and_pads_the_short_one():
    # hand-derived: positions 0..4 over 2 ranks, padded with position 0 (DistributedSampler)
    x, y = torch.arange(10.0, 15.0), torch.arange(20, 25)
    got = [list(dist.shard_batches(iter([(x, y)]), DistContext(r, 2, "gloo")))[0] for r in (0, 1)]
    assert got[0][1].tolist() == [20, 22, 24]
    assert got[1][1].tolist() == [21, 23, 20]
    assert got[1][0].tolist() == [11.0, 13.0, 10.0]


def test_error_streams_differ_per_rank():
    seeds = {dist.error_seed(0, r) for r in range(4)}
    assert len(seeds) == 4 and dist.error_seed(0, 1) != dist.error_seed(1, 1)


@pytest.mark.parametrize("args, match", [
    ((100, 1000, 3, "software"), "batch_size 100 does not divide over 3 processes"),
    ((4, 3, 4, "software"), "--nproc 4 is more than the 3 training samples"),
    ((64, 1000, 2, "board"), "--backend board cannot run distributed"),
])
def test_check_world_refuses(args, match):
    with pytest.raises(ConfigError, match=match):
        dist.check_world(*args)
    dist.check_world(64, 1000, 1, "board")  # one process: nothing to refuse


def test_cli_refuses_before_launching(cli_fails):
    cli_fails(["train", "--preset", "mlp-digits-adapt", "--nproc", "0"], "--nproc 0: use 1")
    cli_fails(["train", "--preset", "mlp-digits-adapt", "--nproc", "2", "--backend", "board"],
              "--backend board cannot run distributed")


# --- two gloo processes on CPU ------------------------------------------------------------------
def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_two_processes_agree_and_resume_exactly_after_a_kill(tmp_path):
    """Ranks hold bit-identical weights and precision state, the precision log is rank 0's
    decisions, and a run whose rank 1 was SIGKILLed resumes (``hostsw train --resume --nproc
    2``) to the weights of the uninterrupted run."""
    worker = REPO / "tests" / "train" / "dist_worker.py"
    first = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            "--nproc-per-node", "2", str(worker), str(tmp_path)],
                           env=_env(), capture_output=True, text=True, timeout=240)
    assert first.returncode != 0, "rank 1 was to SIGKILL itself"
    assert "SIGKILL" in first.stderr, first.stderr[-3000:]
    r0 = torch.load(tmp_path / "full-rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "full-rank1.pt", weights_only=False)
    assert r0["world"] == (0, 2, "gloo") and r1["world"] == (1, 2, "gloo")
    assert _states_equal(r0["model"], r1["model"])
    assert r0["precision"] == r1["precision"]
    assert r1["applied"] == r0["applied"]
    assert sum(a["reason"] == "adapt" for a in r0["applied"]) > 0, "AdaPT never switched"
    full = tmp_path / "full"
    log = [json.loads(line) for line in (full / "precision.jsonl").read_text().splitlines()]
    assert [{k: row[k] for k in r0["applied"][0]} for row in log] == r0["applied"]
    ck = torch.load(full / "checkpoint.pt", weights_only=False)
    assert _states_equal(ck["model"], r0["model"]) and ck["world_size"] == 2
    summary = json.loads((full / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert [r["dist_backend"] for r in summary["ranks"]] == ["gloo", "gloo"]
    assert len((full / "metrics.jsonl").read_text().splitlines()) == 3  # written once

    killed = tmp_path / "killed"  # nothing half-written: the epoch-1 checkpoint and its rows
    assert sorted(p.name for p in killed.iterdir()) == ["checkpoint.pt", "config.yaml",
                                                        "metrics.jsonl", "precision.jsonl"]
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["epoch"] == 1
    resumed = subprocess.run([sys.executable, "-m", "hostsw", "train", "--resume", str(killed),
                              "--nproc", "2", "--device", "cpu", "--threads", "1",
                              "--no-progress"], env=_env(), capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = torch.load(killed / "checkpoint.pt", weights_only=False)
    assert again["epoch"] == 3 and _states_equal(again["model"], ck["model"])
    assert (killed / "precision.jsonl").read_text() == (full / "precision.jsonl").read_text()

    from hostsw.train import TrainOptions, resume  # one process cannot continue a 2-rank run
    with pytest.raises(ConfigError, match="trained with 2 process"):
        resume(full, TrainOptions(device="cpu", progress=False, log=lambda s: None))
