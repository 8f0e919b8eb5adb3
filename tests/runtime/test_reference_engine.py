"""The reference back-end (exact integers) against brute force: Python-integer loops over the
definition of each mode, on small cases of every tier (incl. limbs and wide accumulators)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hostsw.errors import ConfigError
from hostsw.fixedpoint import FixedPoint
from hostsw.runtime.reference import ReferenceBackend, exact_mac
from hostsw.runtime.spec import EngineLimits, Geometry, Mode, Operand, OutSpec


def brute(mode: Mode, g: Geometry, a, b):
    """The three operations written out from their definitions, in Python integers."""
    B, Ci, H, W = g.x_shape
    out = np.zeros({Mode.FWD: g.y_shape, Mode.BWD_DATA: g.x_shape,
                    Mode.BWD_WEIGHT: g.w_shape}[mode], dtype=object)
    for bi, co, oh, ow in itertools.product(range(B), range(g.out_ch), range(g.out_h),
                                            range(g.out_w)):
        for ci, kh, kw in itertools.product(range(Ci), range(g.k_h), range(g.k_w)):
            ih, iw = oh * g.stride + kh - g.pad, ow * g.stride + kw - g.pad
            if not (0 <= ih < H and 0 <= iw < W):
                continue
            if mode == Mode.FWD:
                out[bi, co, oh, ow] += int(a[bi, ci, ih, iw]) * int(b[co, ci, kh, kw])
            elif mode == Mode.BWD_DATA:
                out[bi, ci, ih, iw] += int(a[bi, co, oh, ow]) * int(b[co, ci, kh, kw])
            else:
                out[co, ci, kh, kw] += int(a[bi, co, oh, ow]) * int(b[bi, ci, ih, iw])
    return out


GEOMS = [Geometry(2, 3, 7, 6, 4, 3, 2, 2, 1), Geometry(1, 2, 5, 5, 3, 3, 3, 1, 1),
         Geometry(3, 5, 1, 1, 7)]


@pytest.mark.parametrize("bits", [8, 16, 32])
@pytest.mark.parametrize("g", GEOMS, ids=["conv-s2-p1", "conv-s1-p1", "dense"])
def test_exact_mac_equals_brute_force(bits, g):
    rng = np.random.default_rng(bits)
    shapes = {Mode.FWD: (g.x_shape, g.w_shape), Mode.BWD_DATA: (g.y_shape, g.w_shape),
              Mode.BWD_WEIGHT: (g.y_shape, g.x_shape)}
    terms = {Mode.FWD: g.fan_in, Mode.BWD_DATA: g.out_ch * g.k_h * g.k_w,
             Mode.BWD_WEIGHT: g.batch * g.out_h * g.out_w}
    for mode in Mode:
        sa, sb = shapes[mode]
        a = rng.integers(-2 ** (bits - 1), 2 ** (bits - 1), sa)
        b = rng.integers(0, 2 ** bits, sb)  # unsigned operand of the full width
        got = exact_mac(mode, g, a, b, terms[mode])
        np.testing.assert_array_equal(got.astype(object), brute(mode, g, a, b))


def test_bias_alignment_and_output_rounding_by_hand():
    # one output: x = [3, 5] on 2^-1, w = [7, -2] on 2^-2 -> acc = 21 - 10 = 11 on 2^-3;
    # bias 1 on 2^-1 -> aligned 1 << 2 = 4: 15 on 2^-3 = 1.875; to <8, 1>: 3.75 -> 4 (nearest)
    g = Geometry(1, 2, 1, 1, 1)
    x = Operand(np.array([3, 5]), FixedPoint(8, 1))
    w = Operand(np.array([7, -2]), FixedPoint(8, 2))
    bias = Operand(np.array([1]), FixedPoint(32, 1))
    ref = ReferenceBackend()
    assert ref.fwd(g, x, w, bias, OutSpec(FixedPoint(8, 3), 3)).reshape(-1).tolist() == [15]
    assert ref.fwd(g, x, w, bias, OutSpec(FixedPoint(8, 1), 3)).reshape(-1).tolist() == [4]
    assert ref.fwd(g, x, w, bias, OutSpec(FixedPoint(8, 1), 3, "floor")).reshape(-1).tolist() \
        == [3]
    assert ref.stats.calls == {"fwd/t8": 3}


def test_tier_routing_and_limits():
    ref = ReferenceBackend(EngineLimits(tiers=(8, 16)))
    assert ref.tier(8, 3) == 8 and ref.tier(9, 3) == 16 and ref.tier(16, 16) == 16
    with pytest.raises(ConfigError, match="wider than every built tier.*build the engine with "
                                          "tier 32"):
        ref.tier(17, 8)
    with pytest.raises(ConfigError, match="layer fc9: weights 70000 exceeds the engine's compiled "
                                          "maximum 65536"):
        EngineLimits().check("fc9", Geometry(1, 700, 1, 1, 100))
    g = Geometry(1, 2, 1, 1, 1)
    with pytest.raises(ValueError, match="product grid"):  # a caller bug, not a user error
        ref.fwd(g, Operand(np.array([1, 1]), FixedPoint(8, 1)),
                Operand(np.array([1, 1]), FixedPoint(8, 1)), None, OutSpec(FixedPoint(8, 0), 3))


def test_words_wider_than_float32_stay_in_range_on_the_engine():
    """A float32 activation holds a 32-bit word to 24 significant bits: 2**32 - 1 rounds to 2**32,
    one step past the unsigned 32-bit range. The engine's operand is saturated back into range
    (this crashed an AdaPT run at tier 32 before)."""
    import torch
    from hostsw.quant.layers import FxpLinear
    from hostsw.quant.precision import Precision
    m = FxpLinear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(1.0)
    m.set_precision("act", Precision(32, 0))
    m.set_precision("weight", Precision(8, 0))
    m.mac_backend = ReferenceBackend()
    y = m.eval()(torch.tensor([[4294967295.0]]))
    # the exact (2**32 - 1) * 1, then float32 as torch holds it
    assert y.item() == torch.tensor(2 ** 32 - 1, dtype=torch.float64).float().item()
    assert m.mac_backend.stats.calls == {"fwd/t32": 1}
