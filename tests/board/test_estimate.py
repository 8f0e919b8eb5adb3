"""The analytic estimate: cycle formula against the kernel's own cycle counter (C simulation, an
independent source) on dense operands; labels; csynth replacing the analytic DSPs; CLI labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hostsw.board.estimate import (EstimateConfig, call_cycles, engine_dsp, estimate_training,
                                   precision_segments)
from hostsw.errors import ConfigError
from hostsw.fixedpoint import FixedPoint
from hostsw.runtime.spec import EngineLimits, Geometry, Mode, Operand, OutSpec

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.csim
@pytest.mark.parametrize("g", [Geometry(3, 5, 1, 1, 7),
                               Geometry(2, 2, 6, 6, 3, k_h=3, k_w=3),
                               Geometry(2, 3, 5, 5, 9, k_h=3, k_w=3, pad=1),
                               Geometry(1, 2, 7, 7, 4, k_h=3, k_w=3, stride=2, pad=1)])
def test_cycles_match_the_kernel_counter(g):
    from hostsw.runtime.csim import CsimBackend
    be = CsimBackend(threads=1)
    rng = np.random.default_rng(0)
    nz = lambda shape: rng.integers(1, 100, size=shape) * rng.choice([-1, 1], size=shape)  # noqa
    x, w, dy = (Operand(nz(s), FixedPoint(8, 0)) for s in (g.x_shape, g.w_shape, g.y_shape))
    out = lambda f: OutSpec(FixedPoint(32, 0), acc_frac=f)  # noqa
    U = EngineLimits().unroll
    for mode, call in ((Mode.FWD, lambda: be.fwd(g, x, w, None, out(0))),
                       (Mode.BWD_DATA, lambda: be.bwd_data(g, dy, w, out(0))),
                       (Mode.BWD_WEIGHT, lambda: be.bwd_weight(g, dy, x, out(0), out(0)))):
        before = be.stats.cycles
        call()
        assert be.stats.cycles - before == call_cycles(mode, g, U), (mode, g)


def test_dsp_by_tier():
    # 8 multipliers per tier: ap_int<9> and ap_int<17> products take one DSP48E2 each; tier 32
    # splits both operands into 17-bit halves: four
    assert engine_dsp([8], 8) == 8 and engine_dsp([16], 8) == 8 and engine_dsp([32], 8) == 32
    assert engine_dsp([8, 16, 32], 8) == 48


def test_segments_replay_the_log():
    rows = [{"step": 0, "layer": "a", "kind": "act", "bits": 8},
            {"step": 0, "layer": "a", "kind": "weight", "bits": 8},
            {"step": 5, "layer": "a", "kind": "weight", "bits": 12}]
    assert precision_segments(rows, ["a"]) == [(0, {"a": {"act": 8, "weight": 8}}),
                                               (5, {"a": {"act": 8, "weight": 12}})]


def _run(tmp_path, bits):
    """A tiny MLP run directory (digits, 2 epochs of 4 steps) with a hand-written log."""
    d = tmp_path / f"run{bits}"
    d.mkdir()
    (d / "config.yaml").write_text("name: t\nmodel: mlp\ndataset: digits\nepochs: 2\n"
                                   "batch_size: 16\nseed: 0\n")
    rows = [{"step": 0, "epoch": 0, "layer": n, "kind": k, "bits": bits}
            for n in ("fc1", "fc2", "fc3") for k in ("act", "weight", "grad")]
    (d / "precision.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "metrics.jsonl").write_text('{"epoch": 1, "step": 4}\n{"epoch": 2, "step": 8}\n')
    return d


def test_training_estimate_labels_and_scaling(tmp_path):
    e8 = estimate_training(_run(tmp_path, 8), EstimateConfig(board="zcu104", clock_mhz=200))
    e16 = estimate_training(_run(tmp_path, 16), EstimateConfig(board="zcu104", clock_mhz=100))
    assert e8["label"] == "estimate" and e8["tiers"] == [8] and e16["tiers"] == [16]
    assert [ep["steps"] for ep in e8["epochs"]] == [4, 4]
    # same cycles on every tier; half the clock -> twice the time; wider words -> more energy
    assert e8["run"]["cycles"] == e16["run"]["cycles"]
    assert e16["run"]["seconds"] == pytest.approx(2 * e8["run"]["seconds"])
    assert e16["run"]["mac_energy_j"] > e8["run"]["mac_energy_j"]


def test_synthesis_report_replaces_analytic_dsp(tmp_path):
    d = _run(tmp_path, 8)
    folder = tmp_path / "bs"
    (folder / "reports").mkdir(parents=True)
    (folder / "reports" / "hostsw_mac_t8_csynth.xml").write_text(
        (FIX / "hostsw_mac_t8_csynth.xml").read_text())
    e = estimate_training(d, EstimateConfig(reports=str(folder)))
    assert e["dsp"] == 24 and e["dsp_source"].startswith("synthesis")
    assert e["synthesis"]["t8"]["label"] == "estimate" and e["synthesis"]["t8"]["lut"] == 27115


def _synthesized_hls4ml_project(prj: Path) -> None:
    """An hls4ml project's layout after its Vitis HLS synthesis, with the FIXTURE report."""
    rep = prj / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    (prj / "project.tcl").write_text('variable project_name\nset project_name "myproject"\n'
                                     'variable backend\nset backend "vitis"\n')
    (prj / "myproject_prj" / "hls.app").write_text(
        '<project xmlns="com.autoesl.autopilot.project"><solutions>'
        '<solution name="solution1" status="active"/></solutions></project>')
    (rep / "myproject_csynth.xml").write_text((FIX / "myproject_csynth.xml").read_text())


def test_inference_estimate_uses_hls4ml_report(tmp_path, monkeypatch):
    """An hls4ml project's synthesis report replaces the analytic inference figures, read by
    hls4ml's own parse_vivado_report; the values are those written in the fixture."""
    import hls4ml.report
    from hostsw.board.estimate import estimate_inference
    d = _run(tmp_path, 8)
    analytic = estimate_inference(d, EstimateConfig().validate())
    assert analytic["latency_source"] == analytic["dsp_source"] == "analytic"
    prj = tmp_path / "prj"
    _synthesized_hls4ml_project(prj)
    calls = []
    real = hls4ml.report.parse_vivado_report
    monkeypatch.setattr(hls4ml.report, "parse_vivado_report",
                        lambda p: calls.append(p) or real(p))
    e = estimate_inference(d, EstimateConfig(reports=[str(prj)]).validate())
    assert calls == [str(prj)]
    assert e["label"] == "estimate" and e["synthesis"]["label"] == "estimate"
    assert e["latency_cycles"] == 13 and e["dsp"] == 37  # the fixture's worst case and DSP
    assert e["latency_us"] == pytest.approx(13 / 200)    # zcu104's 200 MHz
    assert e["synthesis"]["lut"] == 61233 and "parse_vivado_report" in e["dsp_source"]
    # an inference bitstream folder: its hls/ project is found the same way
    bs = tmp_path / "bs"
    _synthesized_hls4ml_project(bs / "hls")
    assert estimate_inference(d, EstimateConfig(reports=[str(bs)]).validate())["dsp"] == 37


def test_inference_estimate_uses_wrapper_csynth(tmp_path):
    """A built inference folder's reports/hostsw_infer_csynth.xml (the whole IP) is read with
    our reader, in preference to the network's report."""
    from hostsw.board.estimate import estimate_inference
    d = _run(tmp_path, 8)
    bs = tmp_path / "bs"
    (bs / "reports").mkdir(parents=True)
    (bs / "reports" / "hostsw_infer_csynth.xml").write_text(
        (FIX / "hostsw_mac_t8_csynth.xml").read_text())   # same schema; DSP 24, worst '?'
    e = estimate_inference(d, EstimateConfig(reports=[str(bs)]).validate())
    assert e["dsp"] == 24 and e["dsp_source"].startswith("synthesis report (hostsw")
    assert e["latency_source"] == "analytic"  # '?' (dynamic loop bound): the analytic figure
    # a folder built from another precision plan than the run's: its figures are refused
    (d / "precision_plan.json").write_text('{"layers": {}}')
    (bs / "manifest.json").write_text(json.dumps({"precision_plan_sha256": "ab" * 32}))
    with pytest.raises(ConfigError, match="another precision plan"):
        estimate_inference(d, EstimateConfig(reports=[str(bs)]).validate())


def test_reports_folder_without_reports(tmp_path, cli_fails):
    d = _run(tmp_path, 8)
    (tmp_path / "empty").mkdir()
    cli_fails(["estimate", str(d), "--reports", str(tmp_path / "empty")],
              "no synthesis report there")
    cli_fails(["estimate", str(d), "--reports", str(tmp_path / "nope")], "no such folder")


def test_cli_prints_estimate_never_measured(tmp_path, capsys, cli_fails):
    from hostsw.cli import main
    d = _run(tmp_path, 8)
    assert main(["estimate", str(d), "--board", "zcu104", "--clock-mhz", "200"]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATE" in out and "measured" not in out.replace("not measured", "")
    j = json.loads((d / "estimate.json").read_text())
    assert j["training"]["label"] == j["inference"]["label"] == "estimate"
    cli_fails(["estimate", str(tmp_path / "nope")], "not a hostsw run directory")
