"""Gradient quantizers PTQ / PSQ / BHQ: unbiased, ordered by variance, selectable per run."""

import pytest
import torch

from hostsw.errors import ConfigError
from hostsw.fixedpoint import frac_for_range, quantize
from hostsw.quant.grad import GradQuant
from hostsw.quant.grad_quantizers import (GRAD_QUANTIZERS, check_grad_quantizer, plan_groups,
                                          quantize_bhq, quantize_grad, quantize_psq, row_fracs)
from hostsw.quant.layers import FxpLinear


def _heavy_tailed(n=64, d=48, seed=0):
    """Per-sample errors whose row scales are log-normal (a few samples dominate)."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.exp(2.0 * torch.randn(n, generator=g))
    return torch.randn(n, d, generator=g) * scale[:, None]


def _moments(name, g, bits, reps):
    """Mean and total variance of ``reps`` quantizations with different dither steps."""
    acc = torch.zeros_like(g, dtype=torch.float64)
    sq = torch.zeros_like(acc)
    for step in range(reps):
        q, _ = quantize_grad(name, g, bits, seed=7, tensor_id=3, step=step)
        q = q.double()
        acc += q
        sq += (q - g.double()) ** 2
    return acc / reps, float(sq.sum()) / reps


def test_row_fracs_equal_frac_for_range():
    g = torch.Generator().manual_seed(1)
    vals = torch.rand(400, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(
        -30, 6, (400,), generator=g)
    powers = torch.ldexp(torch.ones(60, dtype=torch.float64), torch.arange(-30, 30))
    vals = torch.cat([vals, powers, torch.tensor([0.0, 7.0, 8.0, 127.0])]).float()
    for bits in (1, 2, 4, 5, 8, 16):
        assert row_fracs(vals, bits).tolist() == [frac_for_range(v, bits) for v in vals.tolist()]


def test_ptq_uses_one_hand_derived_grid_for_the_whole_tensor():
    """4-bit signed errors hold k in [-8, 7]. max |g| = 0.75: frac 3 holds it (7/8 = 0.875 >= 0.75),
    frac 4 does not (7/16 = 0.4375), so the per-tensor grid is 1/8 for EVERY row, also the row of
    small values (whose own range would allow 1/128). Stochastic rounding picks a neighbour on
    that grid, rounding up with probability = the fractional part."""
    g = torch.tensor([[0.75, -0.3, 0.5], [0.01, -0.02, 0.125]])
    for step in range(8):
        q, frac = quantize_grad("ptq", g, 4, seed=5, tensor_id=2, step=step)
        assert frac == 3
        assert q[0, 0] == 0.75 and q[0, 2] == 0.5 and q[1, 2] == 0.125  # on the grid: unchanged
        assert float(q[0, 1]) in (-0.375, -0.25)  # -0.3 * 8 = -2.4 -> -3/8 or -2/8
        assert float(q[1, 0]) in (0.0, 0.125)     # 0.01 * 8 = 0.08 -> 0 or 1/8
        assert float(q[1, 1]) in (-0.125, 0.0)    # -0.02 * 8 = -0.16
    # rounding-up frequencies over 4000 elements (binomial, bounds at about 4 sigma):
    # 0.01 -> 1/8 with p = 0.08 (mean 320, sd 17); -0.3 -> -1/4 with p = 0.6 (mean 2400, sd 31)
    big = torch.cat([torch.tensor([0.75]), torch.full((4000,), 0.01), torch.full((4000,), -0.3)])
    q, frac = quantize_grad("ptq", big, 4, seed=1, tensor_id=0, step=0)
    assert frac == 3
    up_small = int((q[1:4001] == 0.125).sum())
    up_neg = int((q[4001:] == -0.25).sum())
    assert 250 < up_small < 390 and 2270 < up_neg < 2530, (up_small, up_neg)
    assert int((q[1:4001] == 0.0).sum()) == 4000 - up_small
    assert int((q[4001:] == -0.375).sum()) == 4000 - up_neg


def test_default_layer_backward_is_per_tensor_by_hand():
    """An FxpLinear's default error quantizer is ptq: weight.grad = Q(g)^T x by hand.

    x is on its 8-bit grid (multiples of 1/8 < 1), g = [[0.75, -0.5], [0.0625, 0]]: per tensor the
    grid is 1/8 (max 0.75, see above), so 0.0625 is half a step and becomes 0 or 0.125 (psq would
    keep it: its own row's grid is 1/64). Q(g)^T x = [[0.75, c], [-0.5, 0]] @ x:
      c = 0:     [[0.375, 0.1875, 0.5625], [-0.25, -0.125, -0.375]]
      c = 1/8:   [[0.390625, 0.1875, 0.625], [-0.25, -0.125, -0.375]]
    """
    x = torch.tensor([[0.5, 0.25, 0.75], [0.125, 0.0, 0.5]])
    g = torch.tensor([[0.75, -0.5], [0.0625, 0.0]])
    c0 = torch.tensor([[0.375, 0.1875, 0.5625], [-0.25, -0.125, -0.375]])
    c1 = torch.tensor([[0.390625, 0.1875, 0.625], [-0.25, -0.125, -0.375]])
    seen = set()
    for seed in range(16):
        torch.manual_seed(3)
        m = FxpLinear(3, 2, bias=False, grad_bits=4)
        assert m.grad_quant.quantizer_name == "ptq"
        m.set_seed(seed)
        m.train()
        m(x).backward(g)
        assert m.quantizer("grad").fixed_point().frac == 3
        if torch.equal(m.weight.grad, c0):
            seen.add(0)
        else:
            assert torch.equal(m.weight.grad, c1), m.weight.grad
            seen.add(1)
    assert seen == {0, 1}  # both roundings of the half step occur over the seeds


def test_psq_uses_one_power_of_two_grid_per_sample():
    g = _heavy_tailed(8, 20)
    q, frac = quantize_psq(g, 4, seed=1, step=0)
    for i in range(8):
        f = frac_for_range(float(g[i].abs().max()), 4)
        k = q[i] * 2.0 ** f
        assert torch.equal(k, k.round()) and k.abs().max() <= 8
    assert frac == min(frac_for_range(float(r.abs().max()), 4) for r in g)


def test_psq_equals_ptq_when_every_sample_has_the_same_range():
    g = torch.randn(6, 10)
    g[:, 0] = 1.0  # every row's max |g| is 1: one frac for all rows
    g = g.clamp(-1, 1)
    assert torch.equal(quantize_grad("psq", g, 5, 2, 4, 9)[0], quantize_grad("ptq", g, 5, 2, 4, 9)[0])


@pytest.mark.parametrize("name", GRAD_QUANTIZERS)
def test_each_quantizer_is_unbiased(name):
    """The mean of many quantizations (different dither steps) converges to the input.

    For an unbiased quantizer ||mean - g||^2 is pure sampling noise, var / reps in expectation
    (var = the total variance of one quantization): the ratio stays near 1 as reps grows, where a
    bias would make it grow with reps.
    """
    g = _heavy_tailed(32, 24)
    for reps in (16, 256):
        mean, var = _moments(name, g, 4, reps)
        noise = float(((mean - g.double()) ** 2).sum()) * reps / var
        assert 0.6 < noise < 1.4, (reps, noise)
    assert float((mean - g).norm() / g.norm()) < 0.03


def test_variance_ordering_on_heavy_tailed_per_sample_gradients():
    g = _heavy_tailed(64, 48)
    var = {name: _moments(name, g, 4, 64)[1] for name in GRAD_QUANTIZERS}
    assert var["ptq"] > var["psq"] >= var["bhq"]
    assert var["ptq"] > 3 * var["psq"] and var["psq"] > 1.5 * var["bhq"]


def test_bhq_is_psq_without_a_heavy_tail():
    g = torch.randn(16, 10)
    g[:, 0] = 1.0
    assert plan_groups(g.abs().amax(1).tolist()) == []
    assert torch.equal(quantize_bhq(g, 4, 1, 2, 3)[0], quantize_psq(g, 4, 1, 2, 3)[0])


def test_quantizers_are_deterministic_and_follow_the_dither_step():
    g = _heavy_tailed(16, 12)
    for name in GRAD_QUANTIZERS:
        a = quantize_grad(name, g, 4, 5, 6, 7)[0]
        assert torch.equal(a, quantize_grad(name, g, 4, 5, 6, 7)[0])
        assert not torch.equal(a, quantize_grad(name, g, 4, 5, 6, 8)[0])


def test_conv_errors_are_quantized_per_sample():
    g = torch.randn(4, 3, 5, 5)
    g[2] *= 1000
    q, _ = quantize_grad("psq", g, 4, 0, 0, 0)
    assert q.shape == g.shape
    # the small samples keep their own resolution: PTQ would round most of them to zero
    assert (q[0] != 0).float().mean() > 0.5
    assert (quantize_grad("ptq", g, 4, 0, 0, 0)[0][0] != 0).float().mean() < 0.1


@pytest.mark.parametrize("name", ["psq", "bhq"])
def test_grad_quant_selects_the_quantizer_and_advances_the_dither(name):
    torch.manual_seed(0)
    m = FxpLinear(6, 5, bias=False, grad_bits=4)
    m.set_seed(3)
    m.grad_quant.set_quantizer(name)
    x = torch.rand(8, 6)
    g = _heavy_tailed(8, 5)
    m.train()
    m(x).backward(g)
    gq = m.quantizer("grad")
    assert gq.calls.item() == 1
    expected, frac = quantize_grad(name, g, 4, 3, gq.tensor_id, 0)
    assert gq.fixed_point().frac == frac
    xq = quantize(x, 8, m.quantizer("act").fixed_point().frac, False)
    assert torch.allclose(m.weight.grad, expected.t() @ xq, rtol=1e-6, atol=1e-6)


def test_unknown_grad_quantizer_is_a_one_line_error():
    with pytest.raises(ConfigError, match="unknown grad_quantizer 'psx': use one of ptq, psq, bhq") as e:
        check_grad_quantizer("psx")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError):
        GradQuant(8).set_quantizer("hadamard")
