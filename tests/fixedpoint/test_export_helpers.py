import numpy as np

from hostsw.fixedpoint import FixedPoint, int_bounds, requantize_int, shift_round_int


def test_int_bounds_match_fixedpoint():
    for bits in (2, 4, 8, 16):
        for signed in (True, False):
            fp = FixedPoint(bits, 0, signed)
            assert int_bounds(bits, signed) == (fp.min_int, fp.max_int)
    assert int_bounds(8, True, True) == (-127, 127) and int_bounds(8, False, True) == (0, 254)


def test_shift_round_int_equals_requantize_int_inside_range():
    k = np.arange(-5000, 5000, dtype=np.int64)
    out = FixedPoint(32, 0, True)
    for s in (-2, 0, 1, 3, 7):
        for mode in ("nearest", "floor"):
            assert np.array_equal(shift_round_int(k, s, mode), requantize_int(k, s, out, mode))
    big = np.array([(1 << 90) + (1 << 9), -(1 << 90) - 3 * (1 << 9)], dtype=object)
    assert list(shift_round_int(big, 10)) == [1 << 80, -(1 << 80) - 2]  # half-to-even
    assert shift_round_int(5, 1) == 2 and shift_round_int(7, 1) == 4
