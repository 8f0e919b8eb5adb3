"""FracTrain-style progressive precision and MuPPET's global precision levels."""

import pytest
import torch

from hostsw.errors import ConfigError
from hostsw.io import read_jsonl
from hostsw.models import build_model
from hostsw.precision import PrecisionBoard, build_controller
from hostsw.precision.muppet import diversity_ratio, gradient_diversity
from hostsw.precision.progressive import plateaued
from hostsw.quant.layers import quant_layers
from hostsw.quant.precision import Precision
from hostsw.train import TrainOptions, Trainer, config_from_dict, resume, train
from hostsw.train.rundir import start_fresh

QUIET = TrainOptions(progress=False, log=lambda s: None)
STEPS_PER_EPOCH = 23  # digits: 1437 samples, batch 64


def _cfg(controller, epochs=4):
    return config_from_dict({
        "name": "t", "model": "mlp", "dataset": "digits", "epochs": epochs, "batch_size": 64,
        "seed": 3, "optimizer": {"lr": 0.05}, "controller": controller})


def _controller(name, params, epochs=10, spe=5):
    layers = quant_layers(build_model("mlp", (1, 8, 8), 10))
    board = PrecisionBoard(layers)
    ctrl = build_controller(name, params, board)
    ctrl.set_horizon(epochs, spe)
    ctrl.configure()
    ctrl.on_train_begin()
    return ctrl, board


def _end_epoch(ctrl, board, epoch, loss=1.0):
    board.step = epoch * (ctrl.steps_per_epoch or 1)
    ctrl.on_epoch_end({"epoch": epoch, "step": board.step, "train_loss": loss,
                       "train_accuracy": 0.5, "test_loss": loss, "test_accuracy": 0.5})


# --- progressive ---------------------------------------------------------------------------------
def test_plateau_rule():
    assert not plateaued(None, 1.0, 0.01)
    assert not plateaued(1.0, 0.98, 0.01)   # improved by 2%
    assert plateaued(1.0, 0.995, 0.01)      # only 0.5%
    assert plateaued(1.0, 1.2, 0.01)


def test_progressive_steps_up_after_k_plateau_epochs_and_ends_static():
    ctrl, board = _controller("progressive", {"patience": 2, "min_delta": 0.01,
                                              "final_epochs": 1})
    assert board.get("fc1", "weight") == Precision(4) and board.get("fc1", "grad") == Precision(6)
    losses = [1.0, 0.8, 0.795, 0.79]  # epochs 3 and 4 improve by < 1%: two plateau epochs
    for e, loss in enumerate(losses, 1):
        _end_epoch(ctrl, board, e, loss)
        if e < 4:
            assert ctrl.level == 0
    assert ctrl.level == 1
    assert board.get("fc2", "weight") == Precision(6) and board.get("fc2", "grad") == Precision(8)
    assert board.get("fc2", "act") == Precision(6)
    for e, loss in zip(range(5, 9), (0.7, 0.6, 0.5, 0.4)):  # improving: no step up
        _end_epoch(ctrl, board, e, loss)
    assert ctrl.level == 1
    _end_epoch(ctrl, board, 9, 0.3)  # one epoch left: the static precision for it
    assert ctrl.level == 2 and board.get("fc3", "weight") == Precision(8)
    assert [h["reason"] for h in ctrl.summary()["steps_up"]] == ["progressive-plateau",
                                                                 "progressive-final"]
    _end_epoch(ctrl, board, 10, 0.3)
    assert ctrl.level == 2


def test_progressive_in_the_loop_ends_at_the_static_precision(tmp_path):
    summary = train(_cfg({"name": "progressive", "patience": 1, "min_delta": 0.5,
                          "levels": [[4, 6], [6, 8], [8, 8]]}, epochs=4), tmp_path / "r", QUIET)
    rows = [r for r in read_jsonl(tmp_path / "r" / "precision.jsonl") if r["layer"] == "fc1"]
    weight = [(r["step"], r["bits"]) for r in rows if r["kind"] == "weight"]
    grad = [(r["step"], r["bits"]) for r in rows if r["kind"] == "grad"]
    assert weight[0] == (0, 4) and grad[0] == (0, 6)
    assert weight[-1][1] == 8 and grad[-1][1] == 8
    assert all(s % STEPS_PER_EPOCH == 0 for s, _ in weight + grad)
    assert [b for _, b in weight] == sorted(b for _, b in weight)  # never down
    assert summary["final_precision"]["fc1"]["weight"][0] == 8
    assert summary["controller_summary"]["final_level"] == 2


@pytest.mark.parametrize("params,match", [
    ({"levels": [[6, 8], [4, 8]]}, "must not decrease"),
    ({"levels": []}, "non-empty list"),
    ({"levels": [[4, 6, 8]]}, r"levels\[0\]"),
    ({"levels": [[0, 8]]}, r"levels\[0\]\[0\]=0"),
    ({"patience": 0}, "patience=0"),
    ({"grad_quantizer": "per-sample"}, "unknown grad_quantizer"),
])
def test_progressive_bad_input(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match) as e:
        train(_cfg({"name": "progressive", **params}), tmp_path / "r", QUIET)
    assert "\n" not in str(e.value)


# --- MuPPET --------------------------------------------------------------------------------------
def test_gradient_diversity_and_ratio():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert gradient_diversity([a, a]) == pytest.approx(0.5)   # aligned: 1/r
    assert gradient_diversity([a, b]) == pytest.approx(1.0)   # orthogonal
    assert gradient_diversity([a, -a]) == float("inf")
    assert diversity_ratio([1.0, 0.5]) == 2.0
    assert diversity_ratio([0.5, 1.0]) == 1.0


def _feed_muppet(ctrl, board, epoch, grads):
    """One epoch of one step whose last-batch weight gradient is ``grads[layer]``."""
    board.step = epoch - 1
    for name, m in board.layers.items():
        m.weight.grad = grads(m.weight)
    ctrl.on_after_backward()
    board.step = epoch
    ctrl.on_epoch_end({"epoch": epoch, "step": epoch, "train_loss": 1.0, "train_accuracy": 0.5,
                       "test_loss": 1.0, "test_accuracy": 0.5})


def test_muppet_raises_after_p_violations_and_never_decreases():
    ctrl, board = _controller("muppet", {"resolution": 2, "violations": 2, "threshold_base": 1.5,
                                         "threshold_scale": 0.0}, epochs=40, spe=1)
    e1 = lambda w: torch.nn.functional.one_hot(torch.tensor(0), w.numel()).float().view_as(w)
    e2 = lambda w: torch.nn.functional.one_hot(torch.tensor(1), w.numel()).float().view_as(w)
    seen = [ctrl.bits]
    epoch = 0

    def pair(first, second):  # one diversity measurement: two epochs' last-batch gradients
        nonlocal epoch
        for g in (first, second):
            epoch += 1
            _feed_muppet(ctrl, board, epoch, g)
            seen.append(ctrl.bits)

    pair(e1, e2)                 # diversity 1.0: the maximum
    pair(e1, e1)                 # 0.5: ratio 2 > 1.5, violation 1
    assert ctrl.bits == 8 and ctrl.violations == 1
    pair(e1, e1)                 # violation 2 -> 12 bits
    assert ctrl.bits == 12 and ctrl.violations == 0
    assert board.get("fc2", "weight") == board.get("fc2", "grad") == Precision(12)
    for _ in range(12):          # keep violating: 14, 16, fp32, then it stays
        pair(e1, e2)
        pair(e1, e1)
        pair(e1, e1)
    assert ctrl.bits is None and board.get("fc1", "act") == Precision(None)
    widths = [32 if b is None else b for b in seen]
    assert widths == sorted(widths)  # never decreases
    assert [b for b in dict.fromkeys(widths)] == [8, 12, 14, 16, 32]
    checks = ctrl.summary()["checks"]
    assert [c["switched_to"] for c in checks if "switched_to" in c] == [12, 14, 16, 32]


@pytest.mark.slow
def test_muppet_in_the_loop_logs_levels_and_resumes_exactly(tmp_path):
    # the diversity of 2 epochs' last-batch gradients rises until epoch 6 and drops at epoch 8:
    # with threshold 1 and p = 1 that drop switches to 12 bits for epoch 9
    ctrl = {"name": "muppet", "resolution": 2, "violations": 1, "threshold_base": 1.0,
            "threshold_scale": 0.0, "levels": [8, 12, 16]}
    cfg = _cfg(ctrl, epochs=9)
    summary = train(cfg, tmp_path / "full", QUIET)
    rows = [r for r in read_jsonl(tmp_path / "full" / "precision.jsonl")
            if r["layer"] == "fc2" and r["kind"] == "weight"]
    bits = [r["bits"] for r in rows]
    assert bits == sorted(bits) and bits[0] == 8 and len(set(bits)) > 1
    assert all(r["reason"] == "muppet" and r["step"] % STEPS_PER_EPOCH == 0 for r in rows[1:])
    assert summary["controller_summary"]["final_bits"] == bits[-1]
    run = start_fresh(tmp_path / "killed", cfg)
    trainer = Trainer(cfg, run, QUIET)
    original = trainer.controller.on_step_end

    def kill_at(loss):
        original(loss)
        if trainer.step == 7 * STEPS_PER_EPOCH + 5:
            raise KeyboardInterrupt
    trainer.controller.on_step_end = kill_at
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    resume(tmp_path / "killed", QUIET)
    assert read_jsonl(tmp_path / "full" / "precision.jsonl") == \
        read_jsonl(tmp_path / "killed" / "precision.jsonl")
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


@pytest.mark.parametrize("params,match", [
    ({"levels": [8, 8, 16]}, "must increase strictly"),
    ({"levels": [16, 8]}, "must increase strictly"),
    ({"violations": 0}, "violations=0"),
    ({"resolution": 0}, "resolution=0"),
    ({"threshold_base": 0.5}, "threshold_base=0.5"),
])
def test_muppet_bad_input(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match) as e:
        train(_cfg({"name": "muppet", **params}), tmp_path / "r", QUIET)
    assert "\n" not in str(e.value)
