"""hostsw.fixedpoint.requantize_int: the integer ap_fixed cast of the training kernels' output.

Oracles: ``quantize`` (float64, itself checked against the ap_fixed headers) where the values fit
53 bits; hand-derived numbers for wide accumulators; the exact Python-integer path for the int64
path. The C++ kernel's requantizer is checked against ap_fixed casts in tests/csim.
"""

from __future__ import annotations

import numpy as np
import pytest

from hostsw.errors import ConfigError
from hostsw.fixedpoint import FixedPoint, quantize, requantize_int

ROUNDINGS = ("nearest", "floor", "stochastic")
OVERFLOWS = ("saturate", "saturate_sym", "wrap")


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_equals_the_float_cast_where_float64_is_exact(rounding, overflow):
    rng = np.random.default_rng(7)
    for _ in range(150):
        bits = int(rng.integers(1, 21))
        signed = bool(rng.random() < 0.7)
        acc_frac = int(rng.integers(-6, 31))
        shift = int(rng.integers(-8, 41))
        out = FixedPoint(bits, acc_frac - shift, signed)
        acc = rng.integers(-2 ** 40, 2 ** 40, size=97) >> rng.integers(0, 40, size=97)
        got = requantize_int(acc, shift, out, rounding, overflow, seed=3, tensor_id=5, step=7)
        want = quantize(acc.astype(np.float64) * 2.0 ** -acc_frac, bits, out.frac, signed,
                        rounding, overflow, 3, 5, 7) * 2.0 ** out.frac
        np.testing.assert_array_equal(got.astype(np.float64), want)


def test_hand_derived_cases():
    fp8 = FixedPoint(8, 0)
    # 7 / 2 = 3.5: ties to even -> 4; 5 / 2 = 2.5 -> 2; -5 / 2 = -2.5 -> -2; floor(-5/2) = -3
    assert requantize_int(np.array([7, 5, -5]), 1, fp8, "nearest").tolist() == [4, 2, -2]
    assert requantize_int(np.array([7, 5, -5]), 1, fp8, "floor").tolist() == [3, 2, -3]
    # saturation: 1000 / 4 = 250 -> 127; -1000 / 4 -> -128, symmetric -127
    assert requantize_int(np.array([1000, -1000]), 2, fp8, "floor").tolist() == [127, -128]
    assert requantize_int(np.array([-1000]), 2, fp8, "floor", "saturate_sym").tolist() == [-127]
    # wrap: 250 mod 256 = 250 -> as signed 8-bit -6
    assert requantize_int(np.array([1000]), 2, fp8, "floor", "wrap").tolist() == [-6]
    # left shift (frac out > frac acc): 3 << 4 = 48; unsigned 4-bit saturates to 15
    assert requantize_int(np.array([3]), -4, fp8).tolist() == [48]
    assert requantize_int(np.array([3, -1]), -4, FixedPoint(4, 0, False)).tolist() == [15, 0]


def test_wide_accumulators_hand_derived():
    out64 = FixedPoint.wide_type(64, 0)
    # (2**70 + 3 * 2**8) / 2**10 = 2**60 + 0.75 -> nearest 2**60 + 1, floor 2**60
    v = np.array([2 ** 70 + 3 * 2 ** 8, -(2 ** 70) - 3 * 2 ** 8], dtype=object)
    assert requantize_int(v, 10, out64, "nearest").tolist() == [2 ** 60 + 1, -(2 ** 60) - 1]
    assert requantize_int(v, 10, out64, "floor").tolist() == [2 ** 60, -(2 ** 60) - 1]
    # 2**70 does not fit 64 bits on its own grid: saturates to 2**63 - 1 / -2**63
    assert requantize_int(v, 0, out64).tolist() == [2 ** 63 - 1, -(2 ** 63)]
    # wrap keeps the low 64 bits: (2**70 + 3 * 2**8) mod 2**64 = 768
    assert requantize_int(v[:1], 0, out64, "floor", "wrap").tolist() == [3 * 2 ** 8]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_int64_path_equals_exact_python_integers(rounding, overflow):
    rng = np.random.default_rng(11)
    acc = (rng.integers(-2 ** 61, 2 ** 61, size=300) >> rng.integers(0, 61, size=300))
    for shift in (-70 + 6, -5, 0, 1, 13, 31, 32, 33, 61, 62, 70, 127):
        for out in (FixedPoint(8, 3), FixedPoint(17, -2, False), FixedPoint.wide_type(64, 9),
                    FixedPoint.wide_type(63, 1, False)):
            fast = requantize_int(acc, shift, out, rounding, overflow, 1, 2, 3)
            # an object array with one huge element forces the exact Python path for all
            wide = np.concatenate([acc.astype(object), np.array([2 ** 90], dtype=object)])
            exact = requantize_int(wide, shift, out, rounding, overflow, 1, 2, 3)[:-1]
            np.testing.assert_array_equal(fast, exact.astype(np.int64))


def test_stochastic_is_unbiased_and_uses_the_element_index():
    acc = np.full(40000, 5)  # 5 / 4 = 1.25: up with probability 1/4
    k = requantize_int(acc, 2, FixedPoint(8, 0), "stochastic", seed=1)
    assert set(np.unique(k)) == {1, 2}
    assert abs(k.mean() - 1.25) < 0.01
    # the dither is per element index: the same value at another index may round differently
    assert not np.array_equal(k[:100], k[100:200])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="shift"):
        requantize_int(np.array([1]), 200, FixedPoint(8, 0))
    with pytest.raises(ConfigError, match="64-bit"):
        requantize_int(np.array([1]), 0, FixedPoint.wide_type(65, 0))
