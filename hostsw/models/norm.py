"""Normalization layers of the zoo: BatchNorm and SBM's Range BatchNorm (Banner et al. 2018).

Range BN replaces the batch standard deviation by C(n) * range(x - mean), C(n) = 1/sqrt(2 ln n),
n = the number of values per channel in the batch: no sum of squares, so it tolerates low
precision. For Gaussian data C(n) * range tends to about 2 sigma (extreme-value asymptotics), a
constant factor the learned gamma absorbs.

The layers subclass torch's BatchNorm and keep ``running_var`` = the running mean of
(C(n) * range)^2, so that training normalizes by sqrt(sigma_hat^2 + eps) and inference is the
plain BatchNorm formula (x - running_mean) / sqrt(running_var + eps) * gamma + beta. Export
therefore sees an ordinary BatchNormalization node, folded into a per-channel scale and shift
exactly like BN (hostsw.export.graph.CanonicalBatchNorm).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hostsw.errors import ConfigError

#: ``norm:`` values of the model zoo (none: no normalization layers)
NORMS = ("none", "batch", "range")


def range_constant(n: int) -> float:
    """C(n) = 1 / sqrt(2 ln n), n >= 2 values per channel."""
    if n < 2:
        raise ValueError(f"Range BatchNorm needs more than 1 value per channel, got {n}")
    return 1.0 / math.sqrt(2.0 * math.log(n))


class _RangeNormMixin:
    """Training-mode forward with the range estimate; eval mode is BatchNorm's own forward."""

    def _reduce_dims(self, x: torch.Tensor) -> tuple[int, ...]:
        return (0,) + tuple(range(2, x.dim()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not self.training:
            return super().forward(x)
        dims = self._reduce_dims(x)
        shape = [1, -1] + [1] * (x.dim() - 2)
        n = x.numel() // x.shape[1]
        mean = x.mean(dims)
        xc = x - mean.view(shape)
        sigma = range_constant(n) * (xc.amax(dims) - xc.amin(dims))
        var = sigma * sigma
        y = xc / torch.sqrt(var + self.eps).view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                     else self.momentum)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach(), alpha=m)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


class RangeBatchNorm2d(_RangeNormMixin, nn.BatchNorm2d):
    """Range BN over (N, H, W) per channel of an NCHW tensor."""


class RangeBatchNorm1d(_RangeNormMixin, nn.BatchNorm1d):
    """Range BN over N (and L) per feature of an (N, C) or (N, C, L) tensor."""


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ConfigError(f"norm={norm!r}: use one of {', '.join(NORMS)}")
    return norm


def norm2d(norm: str, channels: int) -> nn.Module:
    """The zoo's 2-D normalization after a conv (Identity for ``none``)."""
    check_norm(norm)
    if norm == "range":
        return RangeBatchNorm2d(channels)
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


def norm1d(norm: str, features: int) -> nn.Module:
    """The zoo's 1-D normalization after a dense layer (Identity for ``none``)."""
    check_norm(norm)
    if norm == "range":
        return RangeBatchNorm1d(features)
    return nn.BatchNorm1d(features) if norm == "batch" else nn.Identity()
