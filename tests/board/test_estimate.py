"""The analytic estimate: cycle formula against the kernel's own cycle counter (C simulation, an
independent source) on dense operands; labels; csynth replacing the analytic DSPs; CLI labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hostsw.board.estimate import (EstimateConfig, call_cycles, engine_dsp, estimate_training,
                                   precision_segments)
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


def test_cli_prints_estimate_never_measured(tmp_path, capsys, cli_fails):
    from hostsw.cli import main
    d = _run(tmp_path, 8)
    assert main(["estimate", str(d), "--board", "zcu104", "--clock-mhz", "200"]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATE" in out and "measured" not in out.replace("not measured", "")
    j = json.loads((d / "estimate.json").read_text())
    assert j["training"]["label"] == j["inference"]["label"] == "estimate"
    cli_fails(["estimate", str(tmp_path / "nope")], "not a hostsw run directory")
