"""Backward-pass quantizer: identity forward, quantize the incoming error backward.

Placed on a layer's output, it sets the precision of the error that feeds that layer's
backward-data and backward-weight MACs (the ``b_e`` of the BitOPs model). Stochastic rounding is the
default: it keeps the quantized gradient an unbiased estimate (FQT, seed 004), and its dither is the
counter-based hash the HLS kernels share.

Which quantizer chooses the scales is a per-run setting (``set_quantizer``): ``ptq`` (per tensor,
the default and the original behaviour, bit for bit), ``psq`` (per-sample power-of-two scales) or
``bhq`` (block Householder); see ``hostsw.quant.grad_quantizers``. PSQ and BHQ choose frac per
sample, so they act on a dynamic frac only; with a pinned frac every quantizer uses that one grid.
"""

from __future__ import annotations

import torch
from torch import nn

from hostsw.quant.grad_quantizers import check_grad_quantizer, quantize_grad
from hostsw.quant.tensor_quant import FixedPointTensorQuant


class _QuantizeGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, quantizer: "GradQuant"):
        ctx.quantizer = quantizer
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        with torch.no_grad():
            return ctx.quantizer.quantize_error(g), None


class GradQuant(nn.Module):
    """Holds the error precision (same runtime state as the forward quantizers)."""

    def __init__(self, bit_width: int = 8, frac: int | None = None, rounding: str = "stochastic",
                 tensor_id: int = 0, quantizer: str = "ptq"):
        super().__init__()
        self.tensor_quant = FixedPointTensorQuant(bit_width, frac, signed=True, narrow_range=False,
                                                  rounding=rounding, tensor_id=tensor_id)
        self.quantizer_name = check_grad_quantizer(quantizer)

    def set_quantizer(self, name: str) -> None:
        """Select ptq | psq | bhq (not checkpointed: controllers set it in ``configure``)."""
        self.quantizer_name = check_grad_quantizer(name)

    def quantize_error(self, g: torch.Tensor) -> torch.Tensor:
        tq = self.tensor_quant
        if self.quantizer_name == "ptq" or not bool(tq.frac_auto) or not bool(tq.enabled):
            return tq.quantize(g)
        step = int(tq.calls.item())
        tq.calls.add_(1)  # backward runs in training only: the dither counter advances as in ptq
        out, frac = quantize_grad(self.quantizer_name, g, tq.bits, tq.seed, tq.tensor_id, step,
                                  tq.rounding)
        tq.frac.fill_(float(frac))
        return out

    def _active(self, x: torch.Tensor) -> bool:
        return bool(self.training and x.requires_grad and self.tensor_quant._scalars()[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._active(x):
            return x
        return _QuantizeGrad.apply(x, self)

    def on_fresh_output(self, y: torch.Tensor) -> torch.Tensor:
        """``forward`` for a tensor its caller has just made and hands on only through this call
        (a layer's MAC output): the error of y is quantized by a hook on y, which costs autograd
        about half of an extra node (same gradients: y's gradient is the returned tensor's)."""
        if self._active(y):
            y.register_hook(self._quantize_hook)
        return y

    def _quantize_hook(self, g: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.quantize_error(g)
