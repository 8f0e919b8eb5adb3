"""`hostsw train --resume`: config edits, foreign / corrupt checkpoints, ignored flags, epochs."""

import shutil

import pytest
import torch
import yaml

from hostsw.cli import main

TINY = ["--preset", "mlp-digits-static8", "--limit-train", "128", "--limit-test", "64",
        "--no-progress"]


@pytest.fixture(scope="module")
def base_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", *TINY, "--epochs", "1", "--out", str(root / "cosine")]) == 0
    assert main(["train", *TINY, "--epochs", "2", "--set", "lr_schedule.name=step",
                 "--out", str(root / "step")]) == 0
    return root


@pytest.fixture
def run_copy(base_runs, tmp_path):
    def copy(name="cosine"):
        dst = tmp_path / name
        shutil.copytree(base_runs / name, dst)
        return dst
    return copy


def _edit(run, **changes):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    for key, value in changes.items():
        node = cfg
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.parametrize("key,value,match", [
    ("model", "lenet5", "changes model (mlp -> lenet5)"),
    ("seed", 7, "changes seed (0 -> 7)"),
    ("batch_size", 32, "changes batch_size"),
    ("optimizer__lr", 0.5, "changes optimizer.lr"),
    ("lr_schedule__name", "none", "changes lr_schedule.name"),
    ("limit_train", 64, "changes limit_train"),
    ("augment", True, "changes augment"),
])
def test_config_edit_that_cannot_be_honoured_is_refused(run_copy, cli_fails, key, value, match):
    run = run_copy()
    _edit(run, **{key: value})
    before = (run / "metrics.jsonl").read_text()
    cli_fails(["train", "--resume", str(run)], match)
    assert (run / "metrics.jsonl").read_text() == before


def test_controller_param_edit_is_refused(run_copy, cli_fails):
    run = run_copy()
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["controller"]["params"]["weight"] = [6, "auto"]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    cli_fails(["train", "--resume", str(run)], "changes controller.weight")


def test_safe_edit_is_allowed_and_said(run_copy, capsys):
    run = run_copy()
    _edit(run, eval_batch_size=32)
    assert main(["train", "--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "eval_batch_size 32 (was 1000)" in err


def test_foreign_checkpoint(run_copy, cli_fails):
    run = run_copy()
    torch.save({"a": 1}, run / "checkpoint.pt")
    err = cli_fails(["train", "--resume", str(run)], "is not a hostsw checkpoint")
    assert "checkpoint.pt" in err and "delete it" in err and "KeyError" not in err


def test_corrupt_checkpoint(run_copy, cli_fails):
    run = run_copy()
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[:3000])
    err = cli_fails(["train", "--resume", str(run)], "cannot read")
    assert "checkpoint.pt" in err and "delete it" in err
    assert "PytorchStreamReader" not in err and len(err) - 2 * len(str(run)) < 150


@pytest.mark.parametrize("flag", [["--out", "x"], ["--lr", "0.1"], ["--batch-size", "8"],
                                  ["--seed", "3"], ["--limit-train", "5"], ["--limit-test", "5"],
                                  ["--data-dir", "/tmp"]])
def test_flags_resume_ignores_are_refused(run_copy, cli_fails, flag):
    cli_fails(["train", "--resume", str(run_copy()), *flag], f"{flag[0]} cannot be used with "
              "--resume")


@pytest.mark.parametrize("n", ["0", "-3"])
def test_non_positive_epochs_refused(run_copy, cli_fails, tmp_path, n):
    cli_fails(["train", "--resume", str(run_copy()), "--epochs", n], f"--epochs {n}")
    cli_fails(["train", *TINY, "--epochs", n, "--out", str(tmp_path / "o")], f"--epochs {n}")
    assert not (tmp_path / "o").exists()


def test_epochs_below_done_refused(run_copy, cli_fails):
    cli_fails(["train", "--resume", str(run_copy("step")), "--epochs", "1"],
              "already trained 2 epochs")


def test_extending_a_cosine_run_is_refused(run_copy, cli_fails):
    run = run_copy()
    cli_fails(["train", "--resume", str(run), "--epochs", "3"], "cosine lr schedule")
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 1


def test_extending_a_horizon_controller_is_refused(tmp_path, cli_fails, capsys):
    out = tmp_path / "cpt"
    assert main(["train", *TINY, "--epochs", "1", "--set", "lr_schedule.name=none",
                 "--set", "controller.name=cpt", "--set", "controller.params={num_cycles: 1}",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    cli_fails(["train", "--resume", str(out), "--epochs", "2"], "the cpt controller")


def test_extending_a_step_schedule_run_updates_config(run_copy, capsys):
    run = run_copy("step")
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    assert "continues to 3 epochs (was 2)" in capsys.readouterr().err
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 3
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("rows", ["", '{"epoch": 1, "test_accuracy": 0.5\n'])
def test_a_metrics_log_without_the_checkpoints_epochs_is_refused_untouched(run_copy, cli_fails,
                                                                          rows):
    """Resumed as it was, the run ended in a summary without an accuracy and a traceback, after
    rewriting the log (its unreadable last line was dropped as a killed run's partial row)."""
    run = run_copy()
    (run / "metrics.jsonl").write_text(rows)
    cli_fails(["train", "--resume", str(run)], "does not hold one row for each of the 1 epochs")
    assert (run / "metrics.jsonl").read_text() == rows
