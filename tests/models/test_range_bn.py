"""SBM's Range BatchNorm against a batch computed by hand, and `norm:` in the zoo and configs.

Hand derivation for one channel, x = [1, 2, 4, 9] (n = 4), eps = 0, no affine:
  mean 4, x - mean = [-3, -2, 0, 5], range 8,
  C(4) = 1/sqrt(2 ln 4) = 1/sqrt(2.772588722) = 0.600561204,
  sigma = 8 * 0.600561204 = 4.804489635,
  y = [-3, -2, 0, 5] / 4.804489635 = [-0.624415958, -0.416277306, 0, 1.040693264].
Backward of L = sum(g * y) with g = [1, 0, 0, 0]: sigma depends on x only through max - min, so
  dL/dx_j = (g_j - mean(g)) / sigma - (sum_i g_i y_i) / sigma * C(4) * ([j = argmax] - [j = argmin])
  = [0.75/s - 0.624416*0.600561/s, -0.25/s, -0.25/s, -0.25/s + 0.624416*0.600561/s], s = sigma
  = [0.078051995, -0.052034663, -0.052034663, 0.026017332].
Running statistics after that batch (momentum 0.1, start 0 and 1):
  mean 0.1 * 4 = 0.4, var 0.9 * 1 + 0.1 * sigma^2 = 0.9 + 0.1 * 23.083120 = 3.208312.
"""

import math

import pytest
import torch
from torch import nn

from hostsw.errors import ConfigError
from hostsw.models import build_model
from hostsw.models.norm import RangeBatchNorm1d, RangeBatchNorm2d, range_constant
from hostsw.train import config_from_dict

X = [1.0, 2.0, 4.0, 9.0]


def test_range_constant_values():
    assert range_constant(4) == pytest.approx(0.600561204, abs=1e-9)
    assert range_constant(100) == pytest.approx(1 / math.sqrt(2 * 4.605170186), abs=1e-9)
    with pytest.raises(ValueError, match="more than 1 value"):
        range_constant(1)


def test_forward_and_backward_match_the_hand_computed_batch():
    bn = RangeBatchNorm1d(1, eps=0.0, affine=False).double()
    x = torch.tensor(X, dtype=torch.float64).view(4, 1).requires_grad_()
    y = bn(x)
    assert y.flatten().tolist() == pytest.approx(
        [-0.624415958, -0.416277306, 0.0, 1.040693264], abs=1e-9)
    (y.flatten() * torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)).sum().backward()
    assert x.grad.flatten().tolist() == pytest.approx(
        [0.078051995, -0.052034663, -0.052034663, 0.026017332], abs=1e-9)
    assert bn.running_mean.item() == pytest.approx(0.4, abs=1e-12)
    assert bn.running_var.item() == pytest.approx(3.208312, abs=1e-6)


def test_backward_agrees_with_central_differences():
    """Brute force on a small 2-D batch (independent of autograd): 2 samples x 2 channels x 2x2."""
    torch.manual_seed(3)
    x = torch.randn(2, 2, 2, 2, dtype=torch.float64)
    g = torch.randn(2, 2, 2, 2, dtype=torch.float64)

    def loss(t):
        with torch.no_grad():
            return float((RangeBatchNorm2d(2, eps=1e-5).double()(t) * g).sum())

    xa = x.clone().requires_grad_()
    (RangeBatchNorm2d(2, eps=1e-5).double()(xa) * g).sum().backward()
    h = 1e-6
    for idx in [(0, 0, 0, 0), (1, 1, 1, 0), (0, 1, 0, 1), (1, 0, 1, 1)]:
        xp, xm = x.clone(), x.clone()
        xp[idx] += h
        xm[idx] -= h
        assert xa.grad[idx].item() == pytest.approx((loss(xp) - loss(xm)) / (2 * h), abs=1e-6)


def test_per_channel_2d_statistics_and_eval_is_the_batchnorm_fold():
    """Channel 0 holds the hand batch [1, 2, 4, 9] spread over N=1, H=2, W=2; channel 1 is 10x.
    After training steps, eval mode is (x - running_mean) / sqrt(running_var + eps) * gamma +
    beta: the per-channel scale and shift export folds."""
    bn = RangeBatchNorm2d(2, eps=0.0, affine=False).double()
    x = torch.tensor(X + [10 * v for v in X], dtype=torch.float64).view(1, 2, 2, 2)
    y = bn(x)
    assert y[0, 0].flatten().tolist() == pytest.approx(
        [-0.624415958, -0.416277306, 0.0, 1.040693264], abs=1e-9)
    assert torch.allclose(y[0, 1], y[0, 0])  # scale invariant
    assert bn.running_var.tolist() == pytest.approx([3.208312, 0.9 + 0.1 * 2308.3120], abs=1e-4)
    bn.eps = 1e-5
    with torch.no_grad():
        bn.affine = True
        bn.weight = nn.Parameter(torch.tensor([2.0, 0.5], dtype=torch.float64))
        bn.bias = nn.Parameter(torch.tensor([0.25, -1.0], dtype=torch.float64))
    bn.eval()
    probe = torch.tensor([3.0, 7.0], dtype=torch.float64).view(1, 2, 1, 1)
    # channel 0: (3 - 0.4) / sqrt(3.208312 + 1e-5) * 2 + 0.25 = 2.6 / 1.791176 * 2 + 0.25
    assert bn(probe)[0, 0].item() == pytest.approx(2.6 / math.sqrt(3.208322) * 2 + 0.25, abs=1e-6)
    # channel 1: (7 - 4) / sqrt(231.73120 + 1e-5) * 0.5 - 1
    assert bn(probe)[0, 1].item() == pytest.approx(3 / math.sqrt(231.73121) * 0.5 - 1, abs=1e-6)


def test_single_value_per_channel_is_refused():
    with pytest.raises(ValueError, match="more than 1 value"):
        RangeBatchNorm2d(3)(torch.ones(1, 3, 1, 1))


def _norm_layers(model, cls):
    return [n for n, m in model.named_modules() if type(m) is cls]


def test_zoo_norm_selects_the_layer():
    r = build_model("resnet20", (3, 32, 32), 10, "range")
    assert len(_norm_layers(r, RangeBatchNorm2d)) == 21 and not _norm_layers(r, nn.BatchNorm2d)
    assert len(_norm_layers(build_model("resnet20", (3, 32, 32), 10), nn.BatchNorm2d)) == 21
    lenet = build_model("lenet5", (1, 28, 28), 10, "range")
    assert _norm_layers(lenet, RangeBatchNorm2d) == ["bn1", "bn2"]
    assert not _norm_layers(build_model("lenet5", (1, 28, 28), 10), RangeBatchNorm2d)
    assert build_model("lenet5", (1, 28, 28), 10, "range")(torch.rand(4, 1, 28, 28)).shape == (4, 10)


def test_config_norm_is_checked_on_load():
    base = {"model": "resnet20", "dataset": "cifar10"}
    assert config_from_dict({**base, "norm": "range"}).norm == "range"
    with pytest.raises(ConfigError, match="norm='ranged': use one of none, batch, range"):
        config_from_dict({**base, "norm": "ranged"})
    with pytest.raises(ConfigError, match="model mlp has no normalization layers"):
        config_from_dict({"model": "mlp", "dataset": "digits", "norm": "range"})


def test_rangebn_presets_load():
    from hostsw.train import load_config
    for preset in ("lenet5-mnist-rangebn", "lenet5-fashion-rangebn", "resnet20-cifar10-rangebn"):
        assert load_config(preset).norm == "range"
