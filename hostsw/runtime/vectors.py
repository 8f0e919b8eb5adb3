"""Test-bench vectors: engine calls with the reference's expected outputs, in the text format that
hls/tests/mac_engine_tb.cpp reads (the same bench Vitis HLS runs in csim_design / cosim_design)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hostsw.io import atomic_write_text
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.spec import Geometry, Mode, Operand, OutSpec

MAGIC = "hostsw-mac-vectors 1"


class RecordingBackend(MacBackend):
    """Wraps an engine and keeps every call's registers, operands and outputs (for vectors)."""

    def __init__(self, inner: MacBackend):
        super().__init__(inner.limits)
        self.inner = inner
        self.name = inner.name
        self.records: list[dict] = []

    def _run(self, mode, tier, g: Geometry, a, b, bias, bias_shift, out0: OutSpec,
             out1: OutSpec | None):
        y, y2, cycles = self.inner._run(mode, tier, g, a, b, bias, bias_shift, out0, out1)
        regs = [int(mode), *g.registers(), bias_shift, *out0.registers(),
                *(out1.registers() if out1 is not None else [0, 1, 1, 0, 0, 0])]
        self.records.append({"tier": tier, "registers": regs, "a": a, "b": b, "bias": bias,
                             "y": y, "y2": y2})
        return y, y2, cycles


def _array(v) -> str:
    if v is None:
        return "0"
    flat = np.asarray(v, dtype=np.int64).reshape(-1)
    return f"{flat.size} " + " ".join(map(str, flat.tolist()))


def format_vector(rec: dict) -> str:
    return "\n".join([MAGIC, f"{rec['tier']} {len(rec['registers'])} "
                      + " ".join(map(str, rec["registers"])),
                      _array(rec["a"]), _array(rec["b"]), _array(rec["bias"]), _array(rec["y"]),
                      _array(rec["y2"]), ""])


def write_vectors(records: list[dict], folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rec in enumerate(records):
        p = folder / f"case_{i:03d}_t{rec['tier']}_{Mode(rec['registers'][0]).name.lower()}.txt"
        atomic_write_text(p, format_vector(rec))
        paths.append(p)
    return paths


def sample_calls(backend: MacBackend, geometries: dict, precisions: dict, seed: int = 0,
                 batch: int = 2) -> None:
    """One fwd, bwd-data and bwd-weight call per layer on random operands at each layer's
    precisions (act, weight, grad bits), with a stochastic-rounding output, through ``backend``
    (typically a RecordingBackend around the reference)."""
    from hostsw.fixedpoint import FixedPoint
    rng = np.random.default_rng(seed)
    for name, g in geometries.items():
        g = Geometry(batch, g.in_ch, g.in_h, g.in_w, g.out_ch, g.k_h, g.k_w, g.stride, g.pad)
        ab, wb, eb = precisions[name]
        fa, fw, fe = FixedPoint(ab, ab, False), FixedPoint(wb, wb - 1), FixedPoint(eb, eb - 1)

        def ints(fp, shape):
            return rng.integers(fp.min_int, fp.max_int + 1, size=shape, dtype=np.int64)

        x, w = Operand(ints(fa, g.x_shape), fa), Operand(ints(fw, g.w_shape), fw)
        dy = Operand(ints(fe, g.y_shape), fe)
        bias = Operand(ints(FixedPoint(16, 0), (g.out_ch,)), FixedPoint(32, fa.frac + fw.frac))
        acc = fa.frac + fw.frac
        backend.fwd(g, x, w, bias, OutSpec(FixedPoint.wide_type(16, acc - 6), acc, "stochastic",
                                           "saturate", seed, 1, 2))
        acc = fe.frac + fw.frac
        backend.bwd_data(g, dy, w, OutSpec(FixedPoint.wide_type(64, acc), acc))
        acc = fe.frac + fa.frac
        backend.bwd_weight(g, dy, x, OutSpec(FixedPoint.wide_type(24, acc - 4), acc,
                                             "nearest", "saturate_sym"),
                           OutSpec(FixedPoint.wide_type(64, fe.frac), fe.frac))
