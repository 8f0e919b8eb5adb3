"""Precision switch then re-export; the compile cache; compile errors; --onnx/--inputs/--outputs."""

import json

import numpy as np
import pytest
import torch

from hostsw.cli import main
from hostsw.errors import ToolchainError
from hostsw.export import CsimConfig, HlsConfig, analyze, build_project, run_csim
from hostsw.export.csim import CsimModel, compile_project
from hostsw.export.qonnx_export import load_run_model
from hostsw.export.reference import ExactReference
from hostsw.quant.layers import quant_layers
from hostsw.quant.precision import Precision

from csim_helpers import copy_run

pytestmark = pytest.mark.csim


def _switch_precision(run, changes):
    """What a controller does between epochs: change <bits, frac> in place, run a few training
    steps' forward passes (activation fracs follow the data), checkpoint."""
    loaded = load_run_model(run)
    model, layers = loaded.model, quant_layers(loaded.model)
    for (layer, kind), p in changes.items():
        layers[layer].set_precision(kind, p)
    from hostsw.data import load_dataset
    train_split, _ = load_dataset(loaded.config.dataset)
    model.train()
    with torch.no_grad():
        for i in range(3):
            model(train_split.x[i * 64:(i + 1) * 64])
    model.eval()
    ck = loaded.checkpoint
    ck["model"] = model.state_dict()
    torch.save(ck, run / "checkpoint.pt")


@pytest.mark.slow
def test_precision_switch_then_reexport(runs, tmp_path):
    base = runs("mlp")
    before = run_csim(run_dir=base, cfg=CsimConfig(samples=100))
    plan0 = json.loads((base / "precision_plan.json").read_text())
    run = copy_run(base, tmp_path / "switched")
    _switch_precision(run, {("fc1", "weight"): Precision(3), ("fc2", "act"): Precision(4),
                            ("fc3", "weight"): Precision(5)})
    r = run_csim(run_dir=run, cfg=CsimConfig(samples=360))
    plan = json.loads((run / "precision_plan.json").read_text())
    assert plan["layers"]["fc1"]["weight"].startswith("ap_fixed<3,")
    assert plan["layers"]["fc2"]["act"].startswith("ap_ufixed<4,")
    assert plan["layers"]["fc3"]["weight"].startswith("ap_fixed<5,")
    assert plan["layers"]["fc1"]["accumulator"] != plan0["layers"]["fc1"]["accumulator"]
    assert r["exact_match_rate"] == 1.0 and r["argmax_agreement"] == 1.0
    assert r["library"] != before["library"]  # new widths, new build


def test_second_compile_is_cached(runs, tmp_path):
    run = runs("mlp")
    project = tmp_path / "prj"
    build_project(run / "model.qonnx.onnx" if (run / "model.qonnx.onnx").exists() else
                  _export(run), project, HlsConfig())
    first = compile_project(project)
    second = compile_project(project)
    assert second.cached and second.compile_s == 0.0 and second.library == first.library


def _export(run):
    from hostsw.export import ensure_export
    return ensure_export(run)


@pytest.mark.slow
def test_compile_error_keeps_only_the_log(runs, tmp_path):
    onnx_path = _export(runs("mlp"))
    project = tmp_path / "broken"
    build_project(onnx_path, project, HlsConfig())
    src = project / "firmware" / "myproject.cpp"
    src.write_text("#error hostsw-test-compile-error\n" + src.read_text())
    with pytest.raises(ToolchainError) as e:
        compile_project(project, cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "\n" not in msg and "hostsw-test-compile-error" in msg and "build-error-" in msg
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(left) == 1 and left[0].startswith("build-error-") and left[0] in msg
    assert "hostsw-test-compile-error" in (tmp_path / "cache" / left[0]).read_text()
    assert src.is_file()  # the project is left for inspection


@pytest.mark.slow
def test_cli_onnx_inputs_outputs(runs, tmp_path, capsys):
    onnx_path = _export(runs("lenet5"))
    from hostsw.data import load_dataset
    _, test = load_dataset("mnist")
    x = test.x[:40].numpy()
    np.save(tmp_path / "x.npy", x)
    code = main(["csim", "--onnx", str(onnx_path), "--inputs", str(tmp_path / "x.npy"),
                 "--outputs", str(tmp_path / "y.npy"), "--io-type", "io_stream",
                 "--report", str(tmp_path / "c.json"), "--quiet"])
    assert code == 0, capsys.readouterr()
    y = np.load(tmp_path / "y.npy")
    an = analyze(onnx_path)
    assert y.shape == (40, 10)
    assert np.array_equal(y, ExactReference(an.canon, an.types).run(x.astype(np.float64)))
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["samples"] == 40 and report["exact_match_rate"] == 1.0
    assert "bit-exact 100.00%" in capsys.readouterr().out


def test_parallel_workers_match_one_process(runs):
    onnx_path = _export(runs("mlp"))
    r = run_csim(onnx_path=onnx_path, cfg=CsimConfig(samples=300, jobs=1))
    model = CsimModel(r["library"], 64, 10)
    x = np.random.default_rng(0).uniform(0, 1, (300, 64))
    assert np.array_equal(model.predict(x, jobs=1), model.predict(x, jobs=3, min_chunk=16,
                                                                  min_parallel_s=0))
