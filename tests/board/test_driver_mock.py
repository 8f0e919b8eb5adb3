"""The board back-end's protocol against a MOCK Zynq device (hostsw.board.mock) that records
every register write and buffer event and runs the kernels in C simulation; results are compared
with the exact reference engine, register values with numbers derived by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hostsw.board.driver import BoardTimeoutError
from hostsw.board.mock import mock_for_folder
from hostsw.board.regmap import AP_START, parse_hw_header
from hostsw.fixedpoint import FixedPoint
from hostsw.runtime.board import BoardBackend
from hostsw.runtime.reference import ReferenceBackend
from hostsw.runtime.spec import Geometry, Operand, OutSpec

pytestmark = pytest.mark.csim

G = Geometry(batch=2, in_ch=3, in_h=1, in_w=1, out_ch=4)


def _operands(seed=0):
    rng = np.random.default_rng(seed)
    x = Operand(rng.integers(-128, 128, size=(2, 3, 1, 1)), FixedPoint(8, 4))
    w = Operand(rng.integers(-127, 128, size=(4, 3, 1, 1)), FixedPoint(8, 6))
    b = Operand(rng.integers(-100, 100, size=4), FixedPoint(8, 6))
    return x, w, b


def test_fwd_protocol_and_result(built_training):
    folder, _ = built_training(tiers=(8,))
    dev = mock_for_folder(folder)
    be = BoardBackend(device=dev, bitstream=folder, board="zcu104")
    x, w, b = _operands()
    out = OutSpec(FixedPoint(8, 3), acc_frac=10, rounding="nearest", overflow="saturate")
    y = be.fwd(G, x, w, b, out)
    assert np.array_equal(y, ReferenceBackend().fwd(G, x, w, b, out))
    assert dev.loaded == [folder / "hostsw_training.bit"]
    # buffers: operands as the m_axi words of ap_int<9> (int16), bias and results int64
    allocs = [e for e in dev.events if e[0] == "allocate"]
    assert [(e[2], e[3]) for e in allocs] == [((2, 3, 1, 1), "int16"), ((4, 3, 1, 1), "int16"),
                                              ((4,), "int64"), ((2, 4, 1, 1), "int64")]
    addr = {name: e[1] for name, e in zip(("a", "b", "bias", "y"), allocs)}
    kinds = [e[0] for e in dev.events]
    start = kinds.index("start")
    # inputs flushed before ap_start; the result invalidated after it; everything freed
    flushed = [e[1] for e in dev.events[:start] if e[0] == "flush"]
    assert flushed == [addr["a"], addr["b"], addr["bias"]]
    assert [e[1] for e in dev.events[start:] if e[0] == "invalidate"] == [addr["y"]]
    assert {e[1] for e in dev.events if e[0] == "free"} == set(addr.values())
    # registers at the header's offsets: ap_start is the last write, to the control register
    rm = parse_hw_header(folder / "drivers" / "xhostsw_mac_t8_hw.h")
    writes = dict(dev.writes())
    assert dev.writes()[-1] == (rm.ctrl.offset, AP_START)
    assert writes[rm.arg("mode").offset] == 0
    assert [writes[rm.arg(k).offset] for k in ("batch", "in_ch", "in_h", "in_w", "out_ch")] == \
        [2, 3, 1, 1, 4]
    # bias on 2^-6 aligned to the product grid 2^-10: shift 4; output 2^-10 -> 2^-3: shift 7
    assert writes[rm.arg("use_bias").offset] == 1 and writes[rm.arg("bias_shift").offset] == 4
    assert [writes[rm.arg(k).offset] for k in ("shift0", "bits0", "signed0", "rounding0",
                                               "overflow0")] == [7, 8, 1, 0, 0]
    a_off = rm.arg("a").offset
    assert writes[a_off] | (writes[a_off + 4] << 32) == addr["a"]
    assert writes[rm.arg("y2").offset] == 0 and writes[rm.arg("use_y2").offset] == 0
    assert be.stats.cycles > 0  # the kernel's cycle counter, read from ap_return


def test_negative_shift_and_stochastic_key(built_training):
    """A left shift is a negative 32-bit word; the dither key is the unsigned stream key."""
    from hostsw.fixedpoint import dither_key
    folder, _ = built_training(tiers=(8,))
    dev = mock_for_folder(folder)
    be = BoardBackend(device=dev, bitstream=folder, board="zcu104")
    x, w, _ = _operands(1)
    out = OutSpec(FixedPoint(16, 12), acc_frac=10, rounding="stochastic", seed=5, tensor_id=3,
                  step=9)
    dy = Operand(np.random.default_rng(2).integers(-128, 128, size=(2, 4, 1, 1)), FixedPoint(8, 6))
    out_bd = OutSpec(FixedPoint(8, 2), acc_frac=12, rounding="stochastic", seed=5, tensor_id=4,
                     step=9)
    assert np.array_equal(be.bwd_data(G, dy, w, out_bd), ReferenceBackend().bwd_data(G, dy, w, out_bd))
    y = be.fwd(G, x, w, None, out)
    assert np.array_equal(y, ReferenceBackend().fwd(G, x, w, None, out))
    rm = parse_hw_header(folder / "drivers" / "xhostsw_mac_t8_hw.h")
    last = dict(dev.writes()[-35:])
    assert last[rm.arg("shift0").offset] == (-2) & 0xFFFFFFFF  # 2^-10 -> 2^-12
    assert last[rm.arg("rounding0").offset] == 2
    assert last[rm.arg("key0").offset] == dither_key(5, 3, 9)
    assert last[rm.arg("use_bias").offset] == 0 and last[rm.arg("bias").offset] == 0


def test_bwd_weight_two_outputs(built_training):
    folder, _ = built_training(tiers=(8, 16))
    dev = mock_for_folder(folder)
    be = BoardBackend(device=dev, bitstream=folder, board="zcu104")
    rng = np.random.default_rng(3)
    dy = Operand(rng.integers(-2000, 2000, size=(2, 4, 1, 1)), FixedPoint(12, 8))
    x = Operand(rng.integers(-128, 128, size=(2, 3, 1, 1)), FixedPoint(8, 4))
    o, ob = OutSpec(FixedPoint(16, 10), acc_frac=12), OutSpec(FixedPoint(16, 6), acc_frac=8)
    dw, db = be.bwd_weight(G, dy, x, o, ob)
    rw, rb = ReferenceBackend().bwd_weight(G, dy, x, o, ob)
    assert np.array_equal(dw, rw) and np.array_equal(db, rb)
    allocs = [e for e in dev.events if e[0] == "allocate"]
    assert [e[3] for e in allocs] == ["int32", "int32", "int64", "int64"]  # tier 16: ap_int<17>
    assert [e[2] for e in allocs[2:]] == [(4, 3, 1, 1), (4,)]
    assert "tiers" in be.describe() and be.describe()["mock"] is True


def test_kernel_that_never_finishes(built_training, monkeypatch):
    folder, _ = built_training(tiers=(8,))
    monkeypatch.setenv("HOSTSW_BOARD_TIMEOUT_S", "0.05")
    dev = mock_for_folder(folder, hang=True)
    be = BoardBackend(device=dev, bitstream=folder, board="zcu104")
    x, w, b = _operands()
    with pytest.raises(BoardTimeoutError) as e:
        be.fwd(G, x, w, b, OutSpec(FixedPoint(8, 3), acc_frac=10))
    msg = str(e.value)
    assert "did not finish (no ap_done) within 0.05 s" in msg and "\n" not in msg
    assert {ev[1] for ev in dev.events if ev[0] == "free"}  # buffers released anyway
    with pytest.raises(BoardTimeoutError, match="not idle before ap_start"):
        be.fwd(G, x, w, b, OutSpec(FixedPoint(8, 3), acc_frac=10))
