"""A Brevitas tensor quantizer whose ``<bits, frac>`` is runtime state.

Brevitas' stock power-of-two quantizers derive the scale from max|x| (frac follows bits).
Precision controllers (AdaPT, CPT, ...) need both numbers under their control and changed in place
between steps, so this quantizer keeps them in buffers: the bit width in Brevitas'
``BitWidthStatefulConst`` (the ``stateful_const`` bit-width implementation) and frac in a buffer
next to it. Both are in the ``state_dict``; a re-export reads them. The arithmetic is
``hostsw.fixedpoint.quantize`` (the only place fixed-point semantics live).
"""

from __future__ import annotations

import torch
from brevitas.core.bit_width.const import BitWidthStatefulConst
from torch import nn

from hostsw.fixedpoint import FixedPoint, check_rounding, frac_for_range, quantize
from hostsw.quant.precision import Precision
from hostsw.quant import fused  # noqa: F401  (registers the one-pass quantize)

#: bit width of a MAC layer's bias (what hls4ml's Brevitas flow expects: Int32Bias)
BIAS_BITS = 32


def _clip_bounds(fp: FixedPoint, overflow: str) -> tuple[float, float]:
    """Inputs in [lo, hi] round onto the grid without saturating (their gradient passes)."""
    lo = -fp.max if (overflow == "saturate_sym" and fp.signed) else fp.min
    return lo - fp.step / 2, fp.max + fp.step / 2


class _FixedPointSTE(torch.autograd.Function):
    """Quantize forward; straight-through backward (zeroed where the value saturated, if clip).

    ``clip_grad``: the caller found values outside ``_clip_bounds`` (so a mask is needed).
    """

    @staticmethod
    def forward(ctx, x, fp: FixedPoint, rounding: str, overflow: str, seed: int, tensor_id: int,
                step: int, clip_grad: bool):
        y = quantize(x, fp.bits, fp.frac, fp.signed, rounding, overflow, seed, tensor_id, step)
        if clip_grad:
            lo, hi = _clip_bounds(fp, overflow)
            ctx.save_for_backward((x >= lo) & (x <= hi))
        ctx.clip_grad = clip_grad
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.clip_grad:
            (inside,) = ctx.saved_tensors
            g = g * inside
        return g, None, None, None, None, None, None, None


class FixedPointTensorQuant(nn.Module):
    """Brevitas ``tensor_quant``: x -> (quantized x, scale, zero_point, bit_width).

    ``frac_auto`` picks frac from the current tensor's max |x| (per step); otherwise the ``frac``
    buffer is used as is. The frac in force is always written back to the buffer, so an export
    sees the grid the model last used. ``calls`` counts training-mode applications and feeds the
    stochastic-rounding dither, so runs are reproducible and resume exactly.
    """

    def __init__(self, bit_width: int = 8, frac: int | None = None, signed: bool = True,
                 narrow_range: bool = False, rounding: str = "nearest", tensor_id: int = 0,
                 clip_grad: bool = False):
        super().__init__()
        self.bit_width_impl = BitWidthStatefulConst(int(bit_width))
        self.register_buffer("frac", torch.tensor(float(0 if frac is None else frac)))
        self.register_buffer("frac_auto", torch.tensor(frac is None))
        self.register_buffer("enabled", torch.tensor(True))
        self.register_buffer("calls", torch.tensor(0, dtype=torch.int64))
        self.signed = bool(signed)
        self.narrow_range = bool(narrow_range)
        self.rounding = check_rounding(rounding)
        self.tensor_id = int(tensor_id)
        self.seed = 0
        self.clip_grad = clip_grad

    # --- precision state ---------------------------------------------------------------------
    @property
    def bits(self) -> int:
        return int(self.bit_width_impl.bit_width.item())

    @property
    def overflow(self) -> str:
        return "saturate_sym" if self.narrow_range else "saturate"

    def fixed_point(self) -> FixedPoint:
        """The grid in force (for a dynamic frac: the one used at the last step)."""
        return FixedPoint(self.bits, int(self.frac.item()), self.signed)

    def precision(self) -> Precision:
        if not bool(self.enabled):
            return Precision(None)
        return Precision(self.bits, None if bool(self.frac_auto) else int(self.frac.item()))

    def set_precision(self, p: Precision) -> None:
        """Change bits/frac in place (buffers keep their identity, so optimizers and exports hold)."""
        was_enabled = bool(self.enabled)
        self.enabled.fill_(not p.is_float)
        if p.is_float:
            return
        if p.frac is None and was_enabled:
            # a dynamic grid keeps its integer bits: eval mode (and an export) uses the frac of the
            # last training step, which must follow a change of bits or the range would shrink
            # (or grow) by 2**(old bits - new bits) until the next training step
            self.frac.add_(float(p.bits - self.bits))
        self.bit_width_impl.bit_width.fill_(float(p.bits))
        self.frac_auto.fill_(p.frac is None)
        if p.frac is not None:
            self.frac.fill_(float(p.frac))

    # --- quantization ------------------------------------------------------------------------
    def current_fixed_point(self, x: torch.Tensor) -> FixedPoint:
        bits = self.bits
        self._range = None
        if bool(self.frac_auto) and (self.training or not self._frozen_in_eval):
            max_abs = 0.0
            if x.numel():
                lo, hi = torch.aminmax(x.detach())
                self._range = (lo, hi)  # reused by the gradient-clip test
                max_abs = max(-float(lo), float(hi))
            frac = frac_for_range(max_abs, bits, self.signed)
            self.frac.fill_(float(frac))
        return FixedPoint(bits, int(self.frac.item()), self.signed)

    #: activations keep the frac of the last training step in eval; weights recompute it
    _frozen_in_eval = False
    #: (min, max) 0-d tensors of the tensor ``current_fixed_point`` last measured (or None)
    _range: tuple[torch.Tensor, torch.Tensor] | None = None

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.enabled):
            return x
        fp = self.current_fixed_point(x)
        rounding = self.rounding
        step = int(self.calls.item())
        if self.training:
            self.calls.add_(1)
        elif rounding == "stochastic":
            rounding = "nearest"  # the inference copy is deterministic
        return _FixedPointSTE.apply(x, fp, rounding, self.overflow, self.seed, self.tensor_id,
                                    step, self._needs_clip_mask(x, fp))

    def _needs_clip_mask(self, x: torch.Tensor, fp: FixedPoint) -> bool:
        """One cheap min/max decides whether a gradient mask is needed at all (usually not: an
        auto frac covers the tensor's range and unsigned inputs come after a ReLU)."""
        if not self.clip_grad or not x.numel():
            return False
        x_min, x_max = self._range if self._range is not None else torch.aminmax(x.detach())
        lo, hi = _clip_bounds(fp, self.overflow)
        return bool(x_min < lo) or bool(x_max > hi)  # in x's dtype, as the mask compares

    def forward(self, x: torch.Tensor):
        y = self.quantize(x)
        fp = self.fixed_point()
        scale = torch.tensor(fp.step, dtype=x.dtype, device=x.device)
        zero_point = torch.zeros((), dtype=x.dtype, device=x.device)
        bit_width = self.bit_width_impl()
        return y, scale, zero_point, bit_width


class ActTensorQuant(FixedPointTensorQuant):
    """Activation quantizer: gradient clipped outside the range; frac frozen in eval mode."""

    _frozen_in_eval = True

    def __init__(self, bit_width: int = 8, frac: int | None = None, signed: bool = True,
                 narrow_range: bool = False, rounding: str = "nearest", tensor_id: int = 0):
        super().__init__(bit_width, frac, signed, narrow_range, rounding, tensor_id,
                         clip_grad=True)


def bias_fixed_point(bias: torch.Tensor, acc_frac: int, bits: int = BIAS_BITS) -> FixedPoint:
    """The bias grid: the accumulator's (input frac + weight frac, so the add is exact), unless
    ``bits`` cannot hold max |bias| there; then the finest coarser power of two that can.

    Brevitas' Int32Bias always uses the accumulator grid and saturates: with AdaPT's fine grids
    (frac sums of 40+) that clips every bias to ~1e-5. A coarser bias grid stays exact in hardware
    (hls4ml aligns the bias onto the accumulator grid by a left shift).
    """
    max_abs = 0.0
    if bias.numel():
        lo, hi = torch.aminmax(bias.detach())
        max_abs = max(-float(lo), float(hi))
    return FixedPoint(bits, min(int(acc_frac), frac_for_range(max_abs, bits, True)), True)


def pow2_frac_of(scale: torch.Tensor) -> int:
    """frac of a per-tensor power-of-two scale 2**-frac (the product of input and weight scales)."""
    values = scale.detach().reshape(-1)
    frac = -torch.log2(values[0]).item()
    if not bool((values == values[0]).all()) or frac != round(frac):
        raise ValueError(f"bias quantization needs one power-of-two accumulator scale, got {values}")
    return int(round(frac))


class AccumulatorBiasTensorQuant(nn.Module):
    """Brevitas bias ``tensor_quant`` (x, accumulator scale) -> (quantized x, scale, 0, bits) on the
    grid of ``bias_fixed_point``; its scale is what the QONNX export writes."""

    def __init__(self, bit_width: int = BIAS_BITS):
        super().__init__()
        self.bits = int(bit_width)

    def forward(self, x: torch.Tensor, input_scale: torch.Tensor):
        fp = bias_fixed_point(x, pow2_frac_of(input_scale), self.bits)
        y = _FixedPointSTE.apply(x, fp, "nearest", "saturate", 0, 0, 0, False)
        scale = torch.tensor(fp.step, dtype=x.dtype, device=x.device)
        zero_point = torch.zeros((), dtype=x.dtype, device=x.device)
        return y, scale, zero_point, torch.tensor(float(self.bits), device=x.device)
