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


def test_lost_peer_messages_say_what_the_user_can_act_on():
    closed = dist.lost_peer(RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error "
                                         "[127.0.0.1]:30367: Connection reset by peer"))
    hung = dist.lost_peer(RuntimeError("[../gloo/transport/tcp/unbound_buffer.cc:129] Timed out "
                                       "waiting 20000ms for send operation to complete"))
    assert isinstance(closed, dist.LostPeerError) and isinstance(hung, dist.LostPeerError)
    assert "stopped (its connection closed)" in str(closed) and "gloo" not in str(closed)
    assert "stopped answering" in str(hung) and "--resume" in str(hung)
    assert dist.is_comm_failure(RuntimeError("Connection closed by peer"))
    assert not dist.is_comm_failure(ValueError("shape mismatch"))


@pytest.mark.parametrize("codes, lost, line, status", [
    # rank 1 SIGKILLed; rank 0 saw its connection close and left its reason to the launcher
    ({0: 3, 1: -9}, {0: "another process of the run stopped (its connection closed): ..."},
     "process 1 of 2 died (signal 9); the others stopped: continue with `hostsw train --resume "
     "runs/x --nproc 2`", 2),
    # rank 1 hung (SIGSTOP): rank 0 timed out, then the agent killed rank 1
    ({0: 3, 1: -9}, {0: "another process of the run stopped answering (no reply ...): ..."},
     "process 1 of 2 stopped answering for --dist-timeout 300 s; the others stopped", 2),
    # rank 0 crashed with a traceback of its own
    ({0: 1, 1: 3}, {1: "another process of the run stopped (its connection closed): ..."},
     "2 of 2 processes failed (exit 1, 3): see their messages above", 1),
    # a user error: rank 0 printed it, the launcher adds nothing (also when the agent
    # SIGTERMed rank 0 after its line, once rank 1 had exited)
    ({0: 2, 1: 2}, {}, None, 2),
    ({0: -15, 1: 2}, {}, None, 2),
])
def test_launcher_prints_the_runs_one_line(capsys, codes, lost, line, status):
    import argparse
    from hostsw.cli_distributed import _launch_failed
    args = argparse.Namespace(resume=None, out="runs/x", dist_timeout=None)
    assert _launch_failed(args, 2, codes, lost) == status
    err = capsys.readouterr().err
    if line is None:
        assert err == ""
    else:
        assert err.startswith("hostsw: error: ") and line in err and err.count("\n") == 1, err


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


@pytest.mark.slow
def test_two_processes_take_the_one_process_steps(tmp_path):
    """Same global batch, same seed: with deterministic quantization (fixed fracs, nearest
    rounding: no dither, no range-dependent frac) the gradient of 2 processes is the 1-process
    gradient up to float summation order, so the weights after 8 SGD steps agree to float
    rounding. A wrong learning rate, loss scale (e.g. DDP's mean on top of ``rank_share``), a
    shard that is not the rank's half of the global batch or an unsynced buffer moves them by
    ~lr x gradient (1e-3..1e-2), far outside the tolerance. The expected weights come from the
    plain 1-process loop, which has no distributed code in its path."""
    sets = ["--epochs", "2", "--limit-train", "256", "--limit-test", "64", "--batch-size", "64",
            "--device", "cpu", "--threads", "1", "--no-progress",
            "--set", "controller.weight=[16,12]", "--set", "controller.act=[16,8]",
            "--set", "controller.grad=[16,18]", "--set", "controller.grad_rounding=nearest"]
    for n in (1, 2):
        done = subprocess.run([sys.executable, "-m", "hostsw", "train", "--preset",
                               "mlp-digits-static8", "--out", str(tmp_path / f"n{n}"), *sets,
                               "--nproc", str(n)], env=_env(), capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
    one = torch.load(tmp_path / "n1" / "checkpoint.pt", weights_only=False)
    two = torch.load(tmp_path / "n2" / "checkpoint.pt", weights_only=False)
    assert one["step"] == two["step"] == 8 and two["world_size"] == 2
    for key, w in one["model"].items():
        if w.is_floating_point():
            torch.testing.assert_close(two["model"][key], w, rtol=0, atol=1e-6, msg=key)
        else:
            assert torch.equal(two["model"][key], w), key
    m1 = [json.loads(r) for r in (tmp_path / "n1" / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(r) for r in (tmp_path / "n2" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(m1, m2, strict=True):  # all-reduced loss/accuracy are the global batch's
        assert (b["train_accuracy"], b["test_accuracy"]) == (a["train_accuracy"],
                                                             a["test_accuracy"])
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    # the steps were real: the weights moved ~1000x the tolerance from their initial values
    from hostsw.train import Trainer, TrainOptions, load_config
    from hostsw.train.config import apply_overrides
    from hostsw.train.rundir import start_fresh
    cfg = apply_overrides(load_config("mlp-digits-static8"), ["limit_train=256", "limit_test=64"])
    init = Trainer(cfg, start_fresh(tmp_path / "init", cfg),
                   TrainOptions(device="cpu", progress=False, log=lambda s: None)).model
    moved = max((one["model"][k] - w).abs().max().item()
                for k, w in init.state_dict().items() if k.endswith(("weight", "bias")))
    assert moved > 1e-3, moved


@pytest.mark.slow
def test_plain_torchrun_without_out_shares_one_default_folder(tmp_path):
    """Under plain torchrun, without --out, every rank names the default run folder from rank
    0's clock: one folder (runs/<name>-<time>) holds the run, not one per rank. Rank 1's clock
    runs an hour ahead here (as on another node), so its own clock would name another folder."""
    sitecustomize = tmp_path / "site" / "sitecustomize.py"
    sitecustomize.parent.mkdir()
    sitecustomize.write_text(
        "import os, time\n"
        "if os.environ.get('RANK') == '1':\n"
        "    _strftime = time.strftime\n"
        "    time.strftime = lambda fmt, t=None: _strftime(\n"
        "        fmt, time.localtime(time.time() + 3600) if t is None else t)\n")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(sitecustomize.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", "-m", "hostsw", "train", "--preset",
                           "mlp-digits-static8", "--epochs", "1", "--limit-train", "128",
                           "--limit-test", "64", "--batch-size", "64", "--device", "cpu",
                           "--threads", "1", "--no-progress"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("mlp-digits-static8-"), folders
    assert json.loads((folders[0] / "summary.json").read_text())["world_size"] == 2
