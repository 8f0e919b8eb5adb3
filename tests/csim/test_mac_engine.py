"""The HLS training kernels (hls/include/hostsw_mac.h) in C simulation.

* the runtime requantizer against ap_fixed casts of hls4ml's headers (hls/tests/requantize_oracle.cpp);
* the csim back-end equals the exact reference on every output of a coverage matrix: tier edges,
  signed and unsigned operands, saturation, frac > bits, negative frac, odd fan-in, batch 1,
  strided / padded convolutions, every rounding and overflow mode, bias alignment;
* the C++ test bench passes on the vectors that ``hostsw hls --training`` writes.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hostsw.errors import ConfigError
from hostsw.export.csim import find_compiler
from hostsw.fixedpoint import FixedPoint
from hostsw.runtime.csim import CsimBackend, ap_types_dir
from hostsw.runtime.reference import ReferenceBackend
from hostsw.runtime.spec import Geometry, Mode, Operand, OutSpec

pytestmark = pytest.mark.csim
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engines():
    return CsimBackend(), ReferenceBackend()


@pytest.mark.slow
def test_requantizer_equals_ap_fixed_casts(tmp_path):
    exe = tmp_path / "requantize_oracle"
    cxx = find_compiler()
    r = subprocess.run([cxx, "-std=c++17", "-O1", "-w", f"-I{ap_types_dir()}",
                        f"-I{REPO / 'hls' / 'include'}",
                        str(REPO / "hls" / "tests" / "requantize_oracle.cpp"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    last = out.stdout.strip().splitlines()[-1]
    assert out.returncode == 0 and last.endswith(" 0 mismatches"), out.stdout[-2000:]
    assert int(last.split()[1]) > 500_000  # it checked something


def _ints(rng, fp: FixedPoint, shape, zeros: float = 0.3):
    k = rng.integers(fp.min_int, fp.max_int + 1, size=shape, dtype=np.int64)
    k[rng.random(shape) < zeros] = 0  # the kernels skip zeros: exercise both paths
    edge = rng.random(shape) < 0.05
    k[edge] = fp.max_int  # the extremes of the operand range
    k[rng.random(shape) < 0.05] = fp.min_int
    return k


GEOMS = {
    "dense-odd-fan-in": Geometry(4, 13, 1, 1, 7),
    "dense-batch1": Geometry(1, 400, 1, 1, 3),
    "conv-s1-p2": Geometry(2, 1, 9, 9, 3, 5, 5, 1, 2),
    "conv-s2-p1-rect": Geometry(3, 3, 7, 6, 4, 3, 2, 2, 1),
    "conv-batch1-k1": Geometry(1, 5, 4, 4, 2, 1, 1, 1, 0),
}
# operand widths at and just past every tier edge, signed and unsigned
WIDTHS = [(8, True), (8, False), (9, True), (16, False), (17, True), (32, True), (32, False)]


@pytest.mark.parametrize("gname", list(GEOMS))
@pytest.mark.parametrize("bits,signed", WIDTHS, ids=[f"{b}{'s' if s else 'u'}" for b, s in WIDTHS])
def test_csim_equals_reference(engines, gname, bits, signed):
    cs, ref = engines
    g = GEOMS[gname]
    rng = np.random.default_rng(bits * 7 + signed + len(gname))
    fa = FixedPoint(bits, bits + 3, signed)     # frac > bits
    fw = FixedPoint(bits, -2)                   # negative frac
    fe = FixedPoint(bits, bits // 2)
    x = Operand(_ints(rng, fa, g.x_shape), fa)
    w = Operand(_ints(rng, fw, g.w_shape, zeros=0.1), fw)
    dy = Operand(_ints(rng, fe, g.y_shape, zeros=0.6), fe)
    n_sat = n_up = n_out = 0
    modes = itertools.product(("nearest", "floor", "stochastic"),
                              ("saturate", "saturate_sym", "wrap"))
    for i, (rnd, ovf) in enumerate(modes):
        narrow = 1 + (i * 5) % 20  # output words of 1..20 bits: most outputs saturate or wrap
        for shift in (-3, 0, 7, 33):
            acc = fa.frac + fw.frac
            for bias_shift in (0, 5):
                bias = Operand(rng.integers(-2 ** 31, 2 ** 31, g.out_ch),
                               FixedPoint(32, acc - bias_shift))
                out = OutSpec(FixedPoint.wide_type(narrow, acc - shift, True), acc, rnd, ovf,
                              seed=i, tensor_id=3, step=shift)
                y = cs.fwd(g, x, w, bias, out)
                np.testing.assert_array_equal(y, ref.fwd(g, x, w, bias, out))
                n_out += y.size
                n_sat += int(np.isin(y, [out.fixed_point.max_int, out.fixed_point.min_int]).sum())
            acc = fe.frac + fw.frac
            out = OutSpec(FixedPoint.wide_type(narrow + 40, acc - shift, ovf != "wrap"), acc,
                          rnd, ovf, seed=i, tensor_id=4, step=1)
            np.testing.assert_array_equal(cs.bwd_data(g, dy, w, out), ref.bwd_data(g, dy, w, out))
            acc = fe.frac + fa.frac
            out_w = OutSpec(FixedPoint.wide_type(64, acc - shift), acc, rnd, ovf, 1, 5, 2)
            out_b = OutSpec(FixedPoint.wide_type(narrow, fe.frac - shift), fe.frac, rnd, ovf,
                            1, 6, 2)
            dw, db = cs.bwd_weight(g, dy, x, out_w, out_b)
            rdw, rdb = ref.bwd_weight(g, dy, x, out_w, out_b)
            np.testing.assert_array_equal(dw, rdw)
            np.testing.assert_array_equal(db, rdb)
        if rnd == "stochastic":  # stochastic outputs are not all floors or all ceilings
            exact = OutSpec(FixedPoint.wide_type(64, fa.frac + fw.frac), fa.frac + fw.frac)
            y_exact = ref.fwd(g, x, w, None, exact)
            out = OutSpec(FixedPoint.wide_type(64, fa.frac + fw.frac - 7), fa.frac + fw.frac,
                          "stochastic", "saturate", 9, 9, 9)
            y = cs.fwd(g, x, w, None, out)
            n_up += int((y > (y_exact >> 7)).sum())
    assert n_sat > 0 and n_out > 0
    if g.macs() > 100 and bits <= 16:  # (wider products saturate the 64-bit word at shift 7)
        assert n_up > 0
    tier = next(t for t in (8, 16, 32) if bits <= t)
    assert any(k.endswith(f"/t{tier}") for k in cs.stats.calls)


def test_engine_refuses_what_breaks_its_limits(engines):
    cs, _ = engines
    g = Geometry(1, 2, 1, 1, 1)
    fp = FixedPoint(8, 0)
    out = OutSpec(FixedPoint.wide_type(64, 0), 0)
    # an operand outside its precision (a host bug) is caught by the bridge, not wrapped
    with pytest.raises(ConfigError, match="outside its tier's range"):
        cs._run(Mode.FWD, 8, g, np.array([[[[300]], [[1]]]]), np.array([[[[1]], [[1]]]]), None, 0, out,
                None)
    with pytest.raises(ConfigError, match="compiled maximum"):
        cs.fwd(Geometry(1, 2000, 1, 1, 1), Operand(np.zeros(2000, np.int64), fp),
               Operand(np.zeros(2000, np.int64), fp), None, out)


@pytest.mark.slow
def test_test_bench_passes_on_project_vectors(tmp_path, runs):
    """The bench that Vitis HLS runs in csim_design, compiled with g++/clang++ (original ap_types
    headers: the bench is what a user runs beside the vendor tool)."""
    from hostsw.runtime.project import write_training_project
    proj = tmp_path / "train-hls"
    m = write_training_project(runs("mlp-adapt"), proj)
    tcl = (proj / "build.tcl").read_text()
    for step in ("csim_design -argv", "csynth_design", "export_design -format ip_catalog"):
        assert step in tcl
    assert (proj / "project.tcl").read_text().splitlines()[1] == \
        "set tiers {" + " ".join(map(str, m["tiers"])) + "}"
    exe = tmp_path / "tb"
    cxx = find_compiler()
    r = subprocess.run([cxx, "-std=c++17", "-O1", "-w", f"-I{ap_types_dir()}", f"-I{proj / 'src'}",
                        str(proj / "tb" / "mac_engine_tb.cpp"), str(proj / "src" / "hostsw_mac_top.cpp"),
                        "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    vecs = sorted(str(p) for p in (proj / "tb" / "vectors").glob("*.txt"))
    assert len(vecs) == len(m["vectors"]) >= 3 * len(m["layers"])
    res = subprocess.run([str(exe), *vecs], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:]
    assert res.stdout.strip().splitlines()[-1] == f"{len(vecs)} passed, 0 failed"
    # a corrupted expected value is caught
    bad = Path(vecs[0]).read_text().split("\n")
    ys = bad[5].split()
    ys[1] = str(int(ys[1]) + 1)
    bad[5] = " ".join(ys)
    Path(vecs[0]).write_text("\n".join(bad))
    res = subprocess.run([str(exe), vecs[0]], capture_output=True, text=True, timeout=600)
    assert res.returncode == 1 and "FAIL" in res.stdout
    shutil.rmtree(proj)


@pytest.mark.parametrize("g", [Geometry(64, 6, 14, 14, 16, 5, 5, 1, 0),
                               Geometry(37, 3, 12, 12, 9, 3, 3, 2, 1),
                               Geometry(256, 400, 1, 1, 120)], ids=["conv", "conv-s2", "dense"])
def test_threaded_simulation_is_exact(engines, g):
    """Large calls are split over threads (batch, or output channels for bwd-weight): the parts'
    dither indices must be those of the whole call."""
    _, ref = engines
    one, many = CsimBackend(threads=1), CsimBackend(threads=3)
    rng = np.random.default_rng(5)
    fa, fw, fe = FixedPoint(8, 8, False), FixedPoint(8, 7), FixedPoint(12, 9)
    x = Operand(_ints(rng, fa, g.x_shape, zeros=0.5), fa)
    w = Operand(_ints(rng, fw, g.w_shape, zeros=0.0), fw)
    dy = Operand(_ints(rng, fe, g.y_shape, zeros=0.7), fe)
    bias = Operand(rng.integers(-2 ** 20, 2 ** 20, g.out_ch), FixedPoint(32, 15))
    outs = [OutSpec(FixedPoint.wide_type(10, 15 - 9), 15, "stochastic", "saturate", 1, 2, 3),
            OutSpec(FixedPoint.wide_type(14, 16 - 6), 16, "stochastic", "wrap", 1, 3, 3),
            OutSpec(FixedPoint.wide_type(20, 17 - 11), 17, "stochastic", "saturate", 1, 4, 3),
            OutSpec(FixedPoint.wide_type(12, 9 - 8), 9, "stochastic", "saturate", 1, 5, 3)]
    want = [ref.fwd(g, x, w, bias, outs[0]), ref.bwd_data(g, dy, w, outs[1]),
            *ref.bwd_weight(g, dy, x, outs[2], outs[3])]
    for be in (one, many):
        got = [be.fwd(g, x, w, bias, outs[0]), be.bwd_data(g, dy, w, outs[1]),
               *be.bwd_weight(g, dy, x, outs[2], outs[3])]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert one.stats.cycles == many.stats.cycles  # one engine's cycles, however simulated
