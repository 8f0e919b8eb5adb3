"""The training loop on small real data: run directory, cost, exact resume, divergence."""

import json

import pytest
import torch

from hostsw.errors import ConfigError, TrainingDivergedError
from hostsw.io import read_jsonl
from hostsw.train import TrainOptions, Trainer, config_from_dict, train
from hostsw.train.rundir import start_fresh

QUIET = TrainOptions(progress=False, log=lambda s: None)


def _cfg(**over):
    base = {"name": "t", "model": "mlp", "dataset": "digits", "epochs": 3, "batch_size": 64,
            "seed": 5, "controller": {"name": "static", "weight": 6, "act": 8, "grad": 8}}
    base.update(over)
    return config_from_dict(base)


def test_run_directory_contents(tmp_path):
    summary = train(_cfg(), tmp_path / "run", QUIET)
    run = tmp_path / "run"
    for f in ("config.yaml", "metrics.jsonl", "precision.jsonl", "checkpoint.pt", "summary.json"):
        assert (run / f).is_file()
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert summary == json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] == metrics[-1]["test_accuracy"] > 0.5
    assert summary["controller"] == "static" and summary["epochs"] == 3
    assert summary["final_precision"]["fc1"]["weight"][0] == 6
    # BitOPs by hand (cost.md: MACs x (b_a*b_w + b_e*b_w + b_a*b_e) per layer and sample;
    # fp32: MACs x 32*32 per pass). MLP 64-64-32-10, a = 8, w = 6, e = 8 bits:
    #   fc1  64*64 = 4096 MACs, first layer: fwd + bwd-weight only
    #        4096 * (8*6 + 8*8)        = 4096 * 112 = 458752    fp32: 2 * 4096 * 1024 = 8388608
    #   fc2  64*32 = 2048 MACs: 2048 * (8*6 + 8*6 + 8*8) = 2048 * 160 = 327680
    #                                                         fp32: 3 * 2048 * 1024 = 6291456
    #   fc3  32*10 =  320 MACs:  320 * 160 = 51200              fp32: 3 *  320 * 1024 =  983040
    #   total 837632 / 15663104 = 409 / 7648 = 0.053478...  (not 160/3072 = 0.052083: the first
    #   layer has no backward-data pass)
    cost = summary["cost"]
    assert cost["steps"] == summary["steps"] == 3 * 23
    assert cost["samples"] == 3 * 1437  # digits: 1797 images, 360 held out for test
    assert cost["bitops"] == 837632 * 3 * 1437
    assert cost["bitops_fp32"] == 15663104 * 3 * 1437
    assert cost["bitops_rel_fp32"] == 409 / 7648
    assert cost["model_size"]["rel_fp32"] == pytest.approx(6 / 32)


def test_static8_bitops_exactly_one_sixteenth(tmp_path):
    cfg = _cfg(epochs=1, controller={"name": "static", "weight": 8, "act": 8, "grad": 8})
    summary = train(cfg, tmp_path / "r", QUIET)
    assert summary["cost"]["bitops_rel_fp32"] == 0.0625


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, kill_and_resume):
    cfg = _cfg(epochs=4)
    full = train(cfg, tmp_path / "full", QUIET)
    # interrupt in the middle of epoch 3 (after the epoch-2 checkpoint), then resume
    resumed, epochs_at_kill = kill_and_resume(cfg, tmp_path / "killed", 2 * 23 + 7, QUIET)
    assert epochs_at_kill == 2
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if "time" not in k} for r in rows]
    assert strip(read_jsonl(tmp_path / "full" / "metrics.jsonl")) == \
        strip(read_jsonl(tmp_path / "killed" / "metrics.jsonl"))
    assert resumed["test_accuracy"] == full["test_accuracy"]
    assert resumed["cost"]["bitops"] == full["cost"]["bitops"]


def test_existing_run_needs_resume(tmp_path):
    train(_cfg(epochs=1), tmp_path / "r", QUIET)
    with pytest.raises(ConfigError, match="--resume"):
        train(_cfg(epochs=1), tmp_path / "r", QUIET)


def test_nan_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
    cfg = _cfg(epochs=3)
    run = start_fresh(tmp_path / "r", cfg)
    trainer = Trainer(cfg, run, QUIET)

    def poison(module, inputs, output):
        if trainer.step >= 23 + 4:
            return output * float("nan")
    trainer.model.register_forward_hook(poison)
    with pytest.raises(TrainingDivergedError, match="at step 28 \\(epoch 2\\)") as e:
        trainer.fit()
    assert "checkpoint" in str(e.value) and "\n" not in str(e.value)
    ck = torch.load(run.checkpoint, weights_only=False)
    assert ck["epoch"] == 1 and ck["step"] == 23
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


@pytest.mark.slow
def test_lenet5_learns_mnist_at_8_bits(tmp_path):
    """Real data, real model, static 8/8/8: a few hundred steps already separate the digits."""
    cfg = config_from_dict({
        "name": "t", "model": "lenet5", "dataset": "mnist", "epochs": 2, "batch_size": 64,
        "limit_train": 8000, "limit_test": 2000, "optimizer": {"lr": 0.05},
        "controller": {"name": "static", "weight": 8, "act": 8, "grad": 8,
                       "layers": {"conv1": {"act": [8, 8]}}}})
    summary = train(cfg, tmp_path / "r", QUIET)
    assert summary["test_accuracy"] > 0.85
    assert summary["cost"]["bitops_rel_fp32"] == 0.0625
    assert summary["final_precision"]["conv1"]["act"] == [8, 8]


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    from hostsw.train import TrainOptions, load_config, train
    cfg = load_config("mlp-digits-static8")
    cfg.epochs, cfg.limit_train, cfg.limit_test = 1, 128, 64
    train(cfg, tmp_path / "r", TrainOptions(progress=True))  # capsys: stderr is not a TTY
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err
    assert err.count("epoch   1/1") == 1  # the one line per epoch


def test_epoch_steps_interleaved_equal_whole_epochs(tmp_path):
    """scripts/bench_train_overhead.py times several runs' epochs in turns of a few steps
    (Trainer.epoch_steps): two runs interleaved step by step must end exactly where each ends
    alone (nothing leaks between them: dither counters, precision state, random streams)."""
    cfgs = {"static": _cfg(), "cpt": _cfg(controller={"name": "cpt", "q_min": 3, "q_max": 8,
                                                      "grad": 8, "num_cycles": 4,
                                                      "switch": "step"})}
    alone, mixed = {}, {}
    for name, cfg in cfgs.items():
        t = Trainer(cfg, start_fresh(tmp_path / f"alone-{name}", cfg), QUIET)
        t.controller.on_train_begin()
        t.epoch = 1
        alone[name] = (t.train_epoch(), t)
        mixed[name] = Trainer(cfg, start_fresh(tmp_path / f"mixed-{name}", cfg), QUIET)
        mixed[name].controller.on_train_begin()
        mixed[name].epoch = 1
    steps = {name: t.epoch_steps() for name, t in mixed.items()}
    results, turns = {}, 0
    while steps:
        for name in list(steps):
            try:
                next(steps[name])
                turns += 1
            except StopIteration as done:
                results[name] = done.value
                del steps[name]
    assert turns == 2 * len(range(0, len(alone["static"][1].train_split), 64))
    for name, (totals, t) in alone.items():
        assert results[name] == totals
        for key, value in t.model.state_dict().items():
            assert torch.equal(value, mixed[name].model.state_dict()[key]), (name, key)
