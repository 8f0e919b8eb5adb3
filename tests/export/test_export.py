"""`hostsw export` and `hostsw hls` on a briefly trained MLP with per-layer precisions (no g++)."""

import json

import numpy as np
import onnx
import pytest

from hostsw.cli import main
from hostsw.errors import UnsupportedModelError
from hostsw.export import HlsConfig, build_project, export_run
from hostsw.export.qonnx_export import read_metadata
from hostsw.train import TrainOptions, config_from_dict, train

MLP_CONFIG = {
    "name": "mlp-export-test", "model": "mlp", "dataset": "digits", "epochs": 2,
    "batch_size": 64, "seed": 0,
    "controller": {"name": "static", "weight": [6, "auto"], "act": [7, "auto"],
                   "grad": [8, "auto"],
                   "layers": {"fc1": {"act": [8, "auto"]},
                              "fc2": {"weight": [4, "auto"], "act": [5, "auto"]},
                              "fc3": {"weight": [7, "auto"], "act": [3, "auto"]}}},
}


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    train(config_from_dict(dict(MLP_CONFIG)), out, TrainOptions(progress=False, log=lambda s: None))
    return out


@pytest.fixture(scope="module")
def exported(mlp_run):
    return export_run(mlp_run)


def test_export_files_checker_and_metadata(mlp_run, exported):
    path = mlp_run / "model.qonnx.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.ir_version <= 10
    meta = read_metadata(path)
    assert meta["hostsw.controller"] == "static" and meta["hostsw.epoch"] == "2"
    assert meta["hostsw.version"] and len(meta["hostsw.precision_plan_sha256"]) == 64
    assert meta["hostsw.precision_plan_sha256"] == exported["precision_plan_sha256"]
    assert (mlp_run / "precision_plan.json").is_file()
    cfg = json.loads((mlp_run / "export_config.json").read_text())
    assert cfg["stage"] == "ExportConfig" and cfg["opset"] == 13


def test_quant_nodes_carry_the_learned_precision(mlp_run, exported):
    summary = json.loads((mlp_run / "summary.json").read_text())
    plan = json.loads((mlp_run / "precision_plan.json").read_text())
    from hostsw.fixedpoint import FixedPoint
    for layer, kinds in summary["final_precision"].items():
        for kind in ("weight", "act"):
            bits, frac = kinds[kind]
            fp = FixedPoint.parse(plan["layers"][layer][kind])
            assert (fp.bits, fp.frac) == (bits, frac), (layer, kind)
    assert plan["layers"]["fc2"]["weight"].startswith("ap_fixed<4,")
    assert plan["layers"]["fc3"]["act"].startswith("ap_ufixed<3,")
    assert "AP_SAT_SYM" in plan["layers"]["fc1"]["weight"]  # narrow-range weights
    quant = [n for n in onnx.load(str(mlp_run / "model.qonnx.onnx")).graph.node
             if n.op_type == "Quant"]
    assert {onnx.helper.get_attribute_value(a) for n in quant for a in n.attribute
            if a.name == "rounding_mode"} == {b"ROUND"}


def test_qonnx_execution_and_reference_equal_the_software_model(exported):
    assert exported["verify_samples"] == 16
    # the MLP's widest tensor fits float32's significand, so float32 qonnx execution is exact
    assert exported["qonnx_float32_exact"] and exported["widest_tensor_bits"] <= 24
    assert exported["qonnx_equals_reference_rate"] == 1.0
    assert exported["reference_equals_software_float64_rate"] == 1.0


def test_export_fails_when_qonnx_execution_is_not_exact(mlp_run, tmp_path, monkeypatch):
    """What export prints as checked is enforced: a qonnx result one step off fails it."""
    from hostsw.errors import ToolchainError
    from hostsw.export import qonnx_export
    real = qonnx_export.qonnx_execute
    monkeypatch.setattr(qonnx_export, "qonnx_execute", lambda m, x: real(m, x) + 2.0 ** -20)
    with pytest.raises(ToolchainError, match="qonnx execution differs from the exact reference"):
        export_run(mlp_run, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_widest_magnitude_bits_is_where_float32_stops_being_exact():
    from types import SimpleNamespace as NS
    from hostsw.export.qonnx_export import widest_magnitude_bits
    t = lambda lo, hi: NS(k_min=lo, k_max=hi)
    assert widest_magnitude_bits(NS(tensors={"a": t(-8, 7)})) == 4
    assert widest_magnitude_bits(NS(tensors={"a": t(-8, 7), "b": t(0, 2 ** 24 - 1)})) == 24
    assert widest_magnitude_bits(NS(tensors={"b": t(-(2 ** 24), 5)})) == 25


def test_export_rejects_float_runs(tmp_path):
    cfg = dict(MLP_CONFIG, epochs=1, controller={"name": "fp32"})
    train(config_from_dict(cfg), tmp_path / "fp32", TrainOptions(progress=False, log=lambda s: None))
    with pytest.raises(UnsupportedModelError, match="float32"):
        export_run(tmp_path / "fp32")
    assert not (tmp_path / "fp32" / "model.qonnx.onnx").exists()


def test_hls_project_types_equal_the_plan(mlp_run, exported, tmp_path):
    rows = build_project(mlp_run / "model.qonnx.onnx", tmp_path / "prj",
                         HlsConfig(backend="Vivado", io_type="io_stream"))
    plan = json.loads((mlp_run / "precision_plan.json").read_text())
    for row in rows:
        entry = plan["layers"][row["layer"]]
        assert row["weight"] == entry["weight"].split(",AP_")[0] + ">"
        assert row["accumulator"] == entry["accumulator"]
        assert row["act"] == row["learned_act"] and row["weight"] == row["learned_weight"]
    prj = tmp_path / "prj"
    assert (prj / "build_prj.tcl").is_file() and (prj / "firmware" / "myproject.cpp").is_file()
    assert json.loads((prj / "hostsw_hls_config.json").read_text())["io_type"] == "io_stream"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_export_and_hls(mlp_run, exported, tmp_path, capsys):
    assert main(["export", str(mlp_run), "--out", str(tmp_path / "x" / "m.qonnx.onnx")]) == 0
    out = capsys.readouterr().out
    assert "fc2" in out and "ap_fixed<4," in out
    assert "checked on 16 test images:" in out
    assert "== the software model in float64 on every image" in out
    assert "qonnx execution (float32, exact here" in out and "== the exact reference" in out
    assert (tmp_path / "x" / "m.precision_plan.json").is_file()
    assert main(["hls", "--onnx", str(tmp_path / "x" / "m.qonnx.onnx"), "--out",
                 str(tmp_path / "h"), "--io-type", "io_stream", "--backend", "Vivado"]) == 0
    out = capsys.readouterr().out
    assert "accumulator" in out and "yes" in out and "vivado_hls -f build_prj.tcl" in out


def test_cli_bad_inputs(mlp_run, exported, tmp_path, cli_fails):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    cli_fails(["hls", "--onnx", str(bad), "--out", str(tmp_path / "o1")], "not a readable")
    assert not (tmp_path / "o1").exists()
    cli_fails(["hls", str(mlp_run), "--onnx", str(bad), "--out", str(tmp_path / "o2")],
              "exactly one")
    cli_fails(["hls", str(tmp_path), "--out", str(tmp_path / "o3")], "not a hostsw run")
    cli_fails(["export", str(tmp_path / "nope")], "does not exist")
    x = np.zeros((3, 1, 7, 7), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    cli_fails(["csim", "--onnx", str(mlp_run / "model.qonnx.onnx"), "--inputs",
            str(tmp_path / "x.npy"), "--outputs", str(tmp_path / "y.npy")], "the model takes (N, 1, 8, 8)")
    assert not (tmp_path / "y.npy").exists()
    nonempty = tmp_path / "full"
    nonempty.mkdir()
    (nonempty / "keep.txt").write_text("x")
    cli_fails(["hls", str(mlp_run), "--out", str(nonempty)], "not empty")
    assert [p.name for p in nonempty.iterdir()] == ["keep.txt"]


def test_cli_missing_compiler(mlp_run, exported, tmp_path, cli_fails, monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    monkeypatch.setenv("HOSTSW_CACHE_DIR", str(tmp_path / "cache"))
    cli_fails(["csim", str(mlp_run), "--samples", "5", "--quiet"], "not found on PATH")
    assert not (mlp_run / "csim.json").exists()
