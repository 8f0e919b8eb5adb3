"""AdaPT's rules, each checked against its formula in shared/specs/adapt.md."""

import math
from collections import Counter
from fractions import Fraction

import pytest
import torch

from hostsw.precision import adapt_rules as rules


def test_push_down_finds_the_grid_a_tensor_already_lies_on():
    g = torch.Generator().manual_seed(0)
    k = torch.randint(-15, 16, (40, 30), generator=g)  # values k/8 in [-1.875, 1.875]
    w = k.float() / 8
    res = rules.push_down(w, bits=16, frac=10, resolution=50, frac_floor=0)
    assert (res.bits, res.frac) == (5, 3)  # 3 fraction bits; 15 needs 5 signed (narrow) bits
    assert rules.quantization_kl(w, 5, 3, 50) == 0.0
    assert rules.quantization_kl(w, 5, 2, 50) > 0.0  # one bit coarser loses information
    assert rules.quantization_kl(w, 4, 3, 50) > 0.0  # one bit narrower saturates


@pytest.mark.parametrize("seed", range(6))
def test_push_down_never_returns_a_lossy_precision(seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(int(torch.randint(20, 400, (1,), generator=g)), generator=g) * 0.1
    start_bits = int(torch.randint(6, 20, (1,), generator=g))
    start_frac = start_bits - int(torch.randint(1, 4, (1,), generator=g))
    r = int(torch.randint(50, 151, (1,), generator=g))
    res = rules.push_down(w, start_bits, start_frac, r)
    assert res.bits <= 32
    if res.bits < 32:
        assert rules.quantization_kl(w, res.bits, res.frac, r) == 0.0


def test_push_down_never_raises_bits_when_current_is_lossless():
    w = torch.arange(-8, 9).float() / 4
    res = rules.push_down(w, 12, 8, 60, frac_floor=0)
    assert res.bits <= 12 and res.frac <= 8


# --- push-down against brute force ---------------------------------------------------------------
# An independent oracle for adapt.md's definition: <BW, FL> is lossless at resolution r when the
# r-bin histograms (same edges: [min w, max w] in r equal bins) of w and of its quantized copy
# (round half to even onto k / 2**FL, saturated symmetrically to |k| <= 2**(BW-1) - 1) are equal,
# i.e. their discrete KL divergence is 0. Computed in exact rational arithmetic, value by value;
# push-down's result must be the smallest lossless <BW, FL> over ALL candidates
# 2 <= BW <= 32, frac_floor <= FL <= BW (the search never uses negative integer bits), fewest bits
# first, then the coarsest grid.
def _bins(values, lo, hi, r):
    return Counter(min(max(math.floor((v - lo) * r / (hi - lo)), 0), r - 1) for v in values)


def _lossless(values, bits, frac, r):
    lo, hi = min(values), max(values)
    m = 2 ** (bits - 1) - 1
    q = [Fraction(max(-m, min(m, round(v * 2 ** frac))), 2 ** frac) for v in values]
    return _bins(q, lo, hi, r) == _bins(values, lo, hi, r)


def _smallest_lossless(w, r, frac_floor):
    values = [Fraction(v) for v in w.tolist()]
    for bits in range(2, 33):
        for frac in range(frac_floor, bits + 1):
            if _lossless(values, bits, frac, r):
                return bits, frac
    return None


@pytest.mark.parametrize("seed", range(10))
def test_push_down_returns_the_smallest_lossless_precision_brute_force(seed):
    """Small tensors on a grid k / 2**m (a few dozen values, paper resolutions 50..150), start
    precisions coarser, equal or finer than the tensor's grid, with spare integer bits."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(4, 30, (1,), generator=g))
    m = int(torch.randint(1, 7, (1,), generator=g))
    w = torch.randint(-40, 41, (n,), generator=g).float() / 2 ** m
    w[0] = 0.5 + 2.0 ** -m  # never all zero; keeps the finest grid in use
    r = int(torch.randint(50, 151, (1,), generator=g))
    int_bits = 7 - m + int(torch.randint(0, 3, (1,), generator=g))  # |w| < 2**(6 - m) + 1
    start_frac = int(torch.randint(1, 12, (1,), generator=g))
    floor = int(torch.randint(0, 3, (1,), generator=g))
    res = rules.push_down(w, start_frac + int_bits, start_frac, r, frac_floor=floor)
    expected = _smallest_lossless(w, r, floor)
    assert expected is not None
    assert (res.bits, res.frac) == expected, (n, m, r, start_frac, int_bits, floor)
    assert rules.quantization_kl(w, *expected, r) == 0.0  # the product's KL agrees at the optimum


def test_brute_force_oracle_on_a_hand_example():
    """The oracle itself, on a case derived by hand: w = k/8, k = -15..15, spans 3.75 in r = 50
    bins 0.075 wide, narrower than the 1/8 step, so every coarser grid moves some odd k/8 by 1/8
    into another bin (lossy); on the 1/8 grid (FL = 3) |k| <= 15 = 2**4 - 1 needs BW = 5."""
    w = torch.arange(-15, 16).float() / 8
    assert _smallest_lossless(w, 50, 0) == (5, 3)
    values = [Fraction(v) for v in w.tolist()]
    assert not _lossless(values, 4, 3, 50)  # |k| <= 7: saturates
    assert not _lossless(values, 5, 2, 50) and not _lossless(values, 4, 2, 50)
    res = rules.push_down(w, 12, 8, 50, frac_floor=0)
    assert (res.bits, res.frac) == (5, 3)


def test_push_down_finds_the_smallest_even_when_lossless_is_not_monotone_in_frac():
    """w = [-1, 0.3, 1], r = 4 bins of width 0.5 ([-1,-.5) [-.5,0) [0,.5) [.5,1]); 0.3 is in bin 2.
    FL = 0: 0.3 -> 0 (bin 2) lossless, and 2 bits (k in -1..1) hold -1 and 1: <2, 0> is lossless.
    FL = 1: 0.3 -> 0.5 (bin 3) lossy. FL = 2: 0.3 -> 0.25 (bin 2) lossless again.
    Bisecting FL over [0, 2] from the start <4, 2> would test FL = 1, see a loss and return FL = 2
    (issue 10); the scan of every candidate finds <2, 0>."""
    w = torch.tensor([-1.0, 0.3, 1.0])
    assert _smallest_lossless(w, 4, 0) == (2, 0)
    assert rules.quantization_kl(w, 2, 0, 4) == 0.0 and rules.quantization_kl(w, 3, 1, 4) > 0.0
    res = rules.push_down(w, 4, 2, 4, frac_floor=0)
    assert (res.bits, res.frac) == (2, 0)


def test_gradient_diversity_identical_and_orthogonal():
    lb = 25
    g = torch.randn(1000)
    acc = sum(g / g.norm() for _ in range(lb))
    # identical gradients: the accumulated normalized gradient has norm lb, so Δs = 1
    assert float(acc.norm()) == pytest.approx(lb, rel=1e-5)
    assert rules.gradient_diversity(lb, float(acc.norm())) == pytest.approx(1.0, rel=1e-5)
    # random high-dimensional gradients are nearly orthogonal: Δs ≈ sqrt(lb)
    gen = torch.Generator().manual_seed(1)
    acc = sum((v := torch.randn(200_000, generator=gen)) / v.norm() for _ in range(lb))
    assert rules.gradient_diversity(lb, float(acc.norm())) == pytest.approx(math.sqrt(lb), rel=0.02)
    assert rules.gradient_diversity(lb, 0.0) == math.inf


@pytest.mark.parametrize("lb,div,expected", [
    (25, 1.0, math.ceil(0.33 * 100 + 0.67 * 25)),     # Δs=1 -> lb_new = lb_upr
    (25, 2.0, math.ceil(0.33 * 50 + 0.67 * 25)),      # lb_new = ceil(100/2)
    (100, 10.0, math.ceil(0.33 * 25 + 0.67 * 100)),   # ceil(100/10)=10 -> clipped to lb_lwr
    (60, math.inf, math.ceil(0.33 * 100 + 0.67 * 60)),
])
def test_lookback_update_formula(lb, div, expected):
    assert rules.update_lookback(lb, div, 25, 100, 0.33) == expected


def test_resolution_update_formula():
    assert rules.update_resolution(80, 100, 25, 100, 50, 150) == 81
    assert rules.update_resolution(80, 25, 25, 100, 50, 150) == 79
    assert rules.update_resolution(80, 60, 25, 100, 50, 150) == 80
    assert rules.update_resolution(150, 100, 25, 100, 50, 150) == 150
    assert rules.update_resolution(50, 25, 25, 100, 50, 150) == 50


def test_strategy_transitions():
    assert rules.update_strategy("min", avg_loss=1.0, loss=1.2) == "mean"   # not improving
    assert rules.update_strategy("mean", avg_loss=1.0, loss=1.0) == "max"
    assert rules.update_strategy("max", avg_loss=1.0, loss=1.5) == "max"
    assert rules.update_strategy("max", avg_loss=1.0, loss=0.8) == "min"    # improving
    assert rules.update_strategy("mean", avg_loss=1.0, loss=0.9) == "min"


def test_push_up_suggestions():
    div = math.exp(1.5)  # x = ln Δs - 1 = 0.5
    s1, s2 = math.ceil(1 / 0.25), max(min(math.ceil(32 * 0.25), 32) - 6, 0)  # 4, 2
    assert rules.push_up_step(div, 6, "min") == min(s1, s2) == 2
    assert rules.push_up_step(div, 6, "mean") == math.ceil((s1 + s2) / 2) == 3
    assert rules.push_up_step(div, 6, "max") == max(s1, s2) == 4
    assert rules.push_up_step(2.0, 6, "max") == 1  # x <= 0: minimal step
    assert rules.push_up_step(math.inf, 6, "max") == 1
    assert rules.push_up(8, 6, 3) == (10, 9)       # FL = 6+3, BW = max(8, 9) + 1
    assert rules.push_up(30, 31, 5) == (32, 32)


def test_buffer_bits_rule():
    assert rules.apply_buffer_bits(10, 9, 4) == (13, 9)     # BW = FL + buff
    assert rules.apply_buffer_bits(20, 9, 4) == (20, 9)     # never below the pushed-up BW
    assert rules.apply_buffer_bits(32, 31, 4) == (32, 28)   # FL <= 32 - buff
    assert rules.apply_buffer_bits(12, 30, 8) == (32, 24)


def test_histogram_kl_is_zero_only_for_identical_histograms():
    x = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    h = rules.histogram(x, 0.0, 1.0, 10)
    assert h.sum() == 5 and rules.discrete_kl(h, h) == 0.0
    y = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0])
    assert rules.discrete_kl(rules.histogram(y, 0.0, 1.0, 10), h) == math.inf


@pytest.mark.parametrize("seed", range(30))
def test_push_down_smallest_on_arbitrary_floats_brute_force(seed):
    """Gaussian weights (not on any grid), r = 4..150: the scan returns the oracle's answer."""
    g = torch.Generator().manual_seed(100 + seed)
    n = int(torch.randint(3, 25, (1,), generator=g))
    w = torch.randn(n, generator=g) * float(torch.rand(1, generator=g) * 2 + 0.01)
    r = int(torch.randint(4, 151, (1,), generator=g))
    res = rules.push_down(w, 16, 12, r, frac_floor=0)
    assert (res.bits, res.frac) == _smallest_lossless(w, r, 0), (n, r)
    assert res.kl_bits == 0.0


# --- push-down options (issue 14): scope and KL tolerance ----------------------------------------
# w = [0, 1/4, 1/2, 1], r = 4 bins of width 1/4 over [0, 1]: bins 0, 1, 2, 3 (1 is clamped into
# the last bin), so Q (fp32) = [1/4, 1/4, 1/4, 1/4]. Quantized copies (round half to even, narrow
# saturation |k| <= 2**(BW-1) - 1), P their histogram, KL(P || Q) = sum p log2(p / q) in bits:
#   <2,0>: k = 0, 0, 0 (1/2 ties to 0), 1       -> P = [3/4, 0, 0, 1/4]  KL = 3/4 log2 3 = 1.18872
#   <2,1>: k = 0 (1/2 ties to 0), 0, 1, 2 -> 1  -> values 0, 0, 1/2, 1/2, P = [1/2, 0, 1/2, 0]
#          KL = 1/2 log2 2 + 1/2 log2 2 = 1
#   <2,2>: k = 0, 1, 2 -> 1, 4 -> 1             -> P = [1/4, 3/4, 0, 0]  KL = 3/4 log2 3
#   <3,0>: as <2,0>;  <3,1>: k = 0, 0, 1, 2     -> P = [1/2, 0, 1/4, 1/4]  KL = 1/2
#   <3,2>: k = 0, 1, 2, 4 -> 3 (0.75: bin 3)     -> P = Q, KL = 0: the lossless answer
HAND_W = torch.tensor([0.0, 0.25, 0.5, 1.0])
HAND_KL = {(2, 0): 0.75 * math.log2(3), (2, 1): 1.0, (2, 2): 0.75 * math.log2(3),
           (3, 0): 0.75 * math.log2(3), (3, 1): 0.5, (3, 2): 0.0}


def test_kl_in_bits_matches_the_hand_derivation():
    kl, equal, fracs = rules.candidate_kl(HAND_W, 4, frac_floor=0)
    assert fracs[0] == 0
    for (bw, fl), expected in HAND_KL.items():
        assert float(kl[fl, bw - 1]) == pytest.approx(expected, abs=1e-12), (bw, fl)
        assert rules.quantization_kl(HAND_W, bw, fl, 4) == pytest.approx(expected, abs=1e-12)
        assert bool(equal[fl, bw - 1]) == (expected == 0.0)
    assert math.isinf(float(kl[3, 1]))  # <2, 3>: FL > BW is not a candidate


@pytest.mark.parametrize("kl_max,expected", [
    (0.0, (3, 2)),    # lossless (the paper)
    (0.5, (3, 1)),    # no 2-bit precision within 0.5 bits; <3, 1> loses exactly 0.5
    (0.99, (3, 1)),
    (1.0, (2, 1)),    # <2, 1> loses exactly 1 bit
    (1.2, (2, 0)),    # 3/4 log2 3 = 1.189 <= 1.2: fewest bits, then the coarsest grid
])
def test_kl_tolerance_takes_the_smallest_precision_within_it(kl_max, expected):
    res = rules.push_down(HAND_W, 8, 4, 4, frac_floor=0, kl_max=kl_max)
    assert (res.bits, res.frac) == expected
    assert res.kl_bits == pytest.approx(HAND_KL[expected], abs=1e-12)


def test_first_slice_scope_histograms_only_the_first_output_slice():
    """Row 0 is HAND_W (answer <3, 2> at r = 4); row 1 holds odd multiples of 1/16, which the
    whole-tensor histogram must keep apart: the whole tensor needs a finer grid than row 0."""
    w = torch.stack([HAND_W, torch.tensor([1.0, 3.0, 5.0, 7.0]) / 16])
    sliced = rules.push_down(w, 8, 4, 4, frac_floor=0, scope="first_slice")
    assert (sliced.bits, sliced.frac) == (3, 2)
    whole = rules.push_down(w, 8, 4, 4, frac_floor=0, scope="tensor")
    assert (whole.bits, whole.frac) == _smallest_lossless(w.flatten(), 4, 0)
    assert whole.bits > sliced.bits
    conv = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 0.2
    a = rules.push_down(conv, 8, 4, 50, scope="first_slice")
    b = rules.push_down(conv[0], 8, 4, 50)
    assert (a.bits, a.frac) == (b.bits, b.frac)


def test_candidate_table_equals_one_quantization_per_candidate():
    """The batched table against quantize() + histogram for every single candidate (saturating
    and not), on a tensor with values beyond 1 so that small BWs saturate."""
    w = torch.randn(12, 10, generator=torch.Generator().manual_seed(4)) * 0.7
    kl, equal, fracs = rules.candidate_kl(w, 37, frac_floor=0)
    for f in fracs.tolist():
        for bw in range(max(f, 2), 33):
            ref = rules.quantization_kl(w, bw, f, 37)
            assert bool(equal[f, bw - 1]) == (ref == 0.0), (bw, f)
            assert float(kl[f, bw - 1]) == pytest.approx(ref, abs=1e-12), (bw, f)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_push_down_on_the_gpu_equals_the_cpu():
    g = torch.Generator().manual_seed(5)
    for n in (25, 2400, 48000):
        w = torch.randn(n, generator=g) * 0.05
        for scope, kl_max in (("tensor", 0.0), ("tensor", 0.2), ("first_slice", 0.0)):
            a = rules.push_down(w.view(-1, 5), 8, 4, 97, scope=scope, kl_max=kl_max)
            b = rules.push_down(w.view(-1, 5).cuda(), 8, 4, 97, scope=scope, kl_max=kl_max)
            assert (a.bits, a.frac) == (b.bits, b.frac)
            assert a.kl_bits == pytest.approx(b.kl_bits, abs=1e-12)
