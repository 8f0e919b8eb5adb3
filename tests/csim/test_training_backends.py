"""Training through the MAC engines: ``--backend csim`` and ``--backend reference`` from the same
seed end with identical weights, optimizer state and precision logs, across a precision switch
that moves every layer from tier 8 to tier 32; bifurcation; and the bad inputs of the issue, each
one line with nothing left behind."""

from __future__ import annotations

import json

import pytest
import torch

from hostsw.cli import main
from hostsw.errors import ConfigError
from hostsw.io import read_jsonl
from hostsw.train import TrainOptions, config_from_dict, train

pytestmark = pytest.mark.csim

# progressive precision 8 -> 12 -> 20 bits at epoch boundaries: tiers 8, 16 and 32
SWITCHING = {"name": "switching", "model": "mlp", "dataset": "digits", "epochs": 3,
             "batch_size": 64, "seed": 3, "limit_train": 512, "limit_test": 128,
             "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
             "lr_schedule": {"name": "none"},
             "controller": {"name": "progressive", "levels": [[8, 8], [12, 12], [20, 20]],
                            "patience": 1, "min_delta": 0.5, "final_epochs": 1}}


def _train(tmp_path, name, backend, extra=None):
    cfg = config_from_dict({**SWITCHING, **(extra or {})})
    out = tmp_path / name
    s = train(cfg, out, TrainOptions(progress=False, backend=backend, log=lambda m: None))
    return out, s


def _same_state(a, b):
    ca = torch.load(a / "checkpoint.pt", weights_only=False)
    cb = torch.load(b / "checkpoint.pt", weights_only=False)
    for k, v in ca["model"].items():
        assert torch.equal(v, cb["model"][k]), k
    for k, st in ca["optimizer"]["state"].items():
        for name, v in st.items():
            assert torch.equal(v, cb["optimizer"]["state"][k][name]), (k, name)
    assert ca["controller"] == cb["controller"]
    return ca


def test_csim_and_reference_train_identically_across_tiers(tmp_path):
    a, sa = _train(tmp_path, "csim", "csim")
    b, sb = _train(tmp_path, "reference", "reference")
    _same_state(a, b)
    pa, pb = read_jsonl(a / "precision.jsonl"), read_jsonl(b / "precision.jsonl")
    assert pa == pb
    assert read_jsonl(a / "metrics.jsonl")[-1]["test_accuracy"] == \
        read_jsonl(b / "metrics.jsonl")[-1]["test_accuracy"]
    # the precision switches happened between epochs, and moved the layers across tiers
    tiers = {t for r in pa if "tiers" in r for t in r["tiers"].values()}
    assert {8, 32} <= tiers
    assert all(r["step"] % 8 == 0 for r in pa)  # 512 / 64 = 8 steps per epoch
    calls = sa["engine"]["calls"]
    assert calls == sb["engine"]["calls"]
    assert any(k.endswith("/t8") for k in calls) and any(k.endswith("/t32") for k in calls)
    assert sa["backend"] == "csim" and sa["engine"]["cycles"] > 0


def test_bifurcation_on_the_engines(tmp_path):
    extra = {"bifurcation": {"grad_w": 16}}
    a, _ = _train(tmp_path, "csim", "csim", extra)
    b, _ = _train(tmp_path, "ref", "reference", extra)
    _same_state(a, b)
    rows = [r for r in read_jsonl(a / "precision.jsonl") if r["kind"] == "grad_w"]
    assert {r["layer"] for r in rows} == {"fc1", "fc2", "fc3"} and {r["bits"] for r in rows} == {16}
    c, _ = _train(tmp_path, "plain", "csim")
    wa = torch.load(a / "checkpoint.pt", weights_only=False)["model"]["fc1.weight"]
    wc = torch.load(c / "checkpoint.pt", weights_only=False)["model"]["fc1.weight"]
    assert not torch.equal(wa, wc)  # the 16-bit weight-gradient error changed the training


def test_bad_inputs(tmp_path, cli_fails, monkeypatch):
    out = tmp_path / "o"
    base = ["train", "--preset", "mlp-digits-adapt", "--out", str(out), "--epochs", "1",
            "--no-progress"]
    cli_fails(base + ["--backend", "csim"], "add --set controller.apply_at=epoch")
    assert not out.exists()
    cli_fails(["train", "--preset", "lenet5-mnist-cpt", "--out", str(out), "--backend", "csim"],
              "--set controller.switch=epoch")
    cli_fails(["train", "--preset", "lenet5-mnist-static8", "--out", str(out), "--backend", "csim",
               "--batch-size", "4096", "--limit-train", "64"],
              "layer conv1: input tensor size 3211264 exceeds the engine's compiled maximum 2097152")
    assert not out.exists()
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    cli_fails(["train", "--preset", "mlp-digits-static8", "--out", str(out), "--backend", "csim"],
              "not found on PATH")
    assert not out.exists()


def test_unsupported_layer_is_named():
    from hostsw.errors import UnsupportedModelError
    from hostsw.models import build_model
    from hostsw.runtime.attach import check_model
    with pytest.raises(UnsupportedModelError, match=r"layer .*bn1 \(BatchNorm2d\) is not supported "
                                                    "by the csim back-end"):
        check_model(build_model("resnet20", (3, 32, 32), 10), "csim")


def test_precision_wider_than_the_built_tiers(tmp_path):
    from hostsw.models import build_model
    from hostsw.quant.layers import quant_layers
    from hostsw.quant.precision import Precision
    from hostsw.runtime.attach import layer_tiers
    from hostsw.runtime.reference import ReferenceBackend
    from hostsw.runtime.spec import EngineLimits
    m = quant_layers(build_model("mlp", (1, 8, 8), 10))["fc1"]
    m.set_precision("weight", Precision(12))
    with pytest.raises(ConfigError, match="layer fc1 fwd: an operand of 12 bits is wider than every "
                                          "built tier \\(8\\): build the engine with tier 16"):
        layer_tiers(m, ReferenceBackend(EngineLimits(tiers=(8,))), "fc1")


def test_compile_error_shows_the_first_compiler_lines(tmp_path, monkeypatch):
    from hostsw.errors import ToolchainError
    from hostsw.runtime import csim, engine_source
    inc = tmp_path / "include"
    inc.mkdir()
    src = engine_source.HLS_DIR / "include"
    (inc / "hostsw_fixed.h").write_text((src / "hostsw_fixed.h").read_text())
    (inc / "hostsw_mac.h").write_text((src / "hostsw_mac.h").read_text() + "\nthis is not C++;\n")
    monkeypatch.setattr(csim, "hls_include_dir", lambda: inc)
    with pytest.raises(ToolchainError, match="failed to compile the training kernels: .*error.*"
                                             "full log in .*build-error-.*log"):
        csim.build_engine(cache_dir=tmp_path / "cache")
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(left) == 1 and left[0].startswith("build-error-")  # the log only, no build folder


def test_resume_across_backends(tmp_path, cli_fails):
    cfg = dict(SWITCHING, epochs=2)
    out = tmp_path / "r"
    train(config_from_dict(cfg), out, TrainOptions(progress=False, backend="software",
                                                    log=lambda m: None))
    cli_fails(["train", "--resume", str(out), "--backend", "csim"],
              "was trained with --backend software; it cannot resume on csim")
    # the engines compute identical integers: a csim run may continue on the reference, exactly
    from hostsw.train import Trainer
    from hostsw.train.rundir import start_fresh
    c = config_from_dict(cfg)
    a = tmp_path / "a"
    trainer = Trainer(c, start_fresh(a, c), TrainOptions(progress=False, backend="csim",
                                                         log=lambda m: None))
    original = trainer.controller.on_step_end

    def kill_at(loss):
        original(loss)
        if trainer.step == 11:  # in the second epoch, after the first checkpoint
            raise KeyboardInterrupt
    trainer.controller.on_step_end = kill_at
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert main(["train", "--resume", str(a), "--backend", "reference", "--no-progress"]) == 0
    b = tmp_path / "b"
    train(config_from_dict(cfg), b, TrainOptions(progress=False, backend="csim",
                                                  log=lambda m: None))
    _same_state(a, b)
    assert json.loads((a / "summary.json").read_text())["backend"] == "reference"
