"""A Brevitas tensor quantizer whose ``<bits, frac>`` is runtime state.

Brevitas' stock power-of-two quantizers derive the scale from max|x| (frac follows bits).
Precision controllers (AdaPT, CPT, ...) need both numbers under their control and changed in place
between steps, so this quantizer keeps them in buffers: the bit width in Brevitas'
``BitWidthStatefulConst`` (the ``stateful_const`` bit-width implementation) and frac in a buffer
next to it. Both are in the ``state_dict``; a re-export reads them. The arithmetic is
``hostsw.fixedpoint.quantize`` (the only place fixed-point semantics live).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from brevitas.core.bit_width.const import BitWidthStatefulConst
from torch import nn

from hostsw.fixedpoint import (FRAC_LIMIT, FixedPoint, check_rounding, frac_for_range,
                               frac_is_for_range, quantize_checked)
from hostsw.quant.precision import Precision
from hostsw.quant import fused  # (also registers the one-pass quantize)

#: bit width of a MAC layer's bias (what hls4ml's Brevitas flow expects: Int32Bias)
BIAS_BITS = 32


def _clip_bounds(fp: FixedPoint, overflow: str) -> tuple[float, float]:
    """Inputs in [lo, hi] round onto the grid without saturating (their gradient passes)."""
    lo = -fp.max if (overflow == "saturate_sym" and fp.signed) else fp.min
    return lo - fp.step / 2, fp.max + fp.step / 2


@lru_cache(maxsize=4096)
def _fixed_point(bits: int, frac: int, signed: bool) -> FixedPoint:
    """FixedPoint(bits, frac, signed), validated once per distinct precision (per-step path)."""
    return FixedPoint(bits, frac, signed)


_COMPARE_DTYPES = (torch.float32, torch.float64)


@lru_cache(maxsize=4096)
def _clip_bounds_as(fp: FixedPoint, overflow: str, dtype: torch.dtype) -> tuple[float, float]:
    """``_clip_bounds`` converted to ``dtype`` as torch converts a Python scalar that a
    float32/float64 tensor is compared with, so Python floats of that dtype compare alike."""
    lo, hi = _clip_bounds(fp, overflow)
    return tuple(torch.tensor([lo, hi], dtype=torch.float64).to(dtype).tolist())


def _inside_mask(x: torch.Tensor, fp: FixedPoint, overflow: str) -> torch.Tensor:
    """Where x lies inside the grid's range (there the straight-through gradient passes)."""
    lo, hi = _clip_bounds(fp, overflow)
    return (x >= lo) & (x <= hi)


def _save_clip_mask(ctx, x: torch.Tensor, fp: FixedPoint, overflow: str, clip: bool) -> None:
    """Remember where x lay inside the grid's range (only when some value did not: ``clip``)."""
    ctx.clip_grad = clip
    if clip:
        ctx.save_for_backward(_inside_mask(x, fp, overflow))


def _masked_grad(ctx, g: torch.Tensor) -> torch.Tensor:
    """The straight-through gradient, zeroed where the forward saturated."""
    if ctx.clip_grad:
        (inside,) = ctx.saved_tensors
        return g * inside
    return g


class _FixedPointSTE(torch.autograd.Function):
    """Quantize forward; straight-through backward (zeroed where the value saturated, if clip).

    ``clip_grad``: the caller found values outside ``_clip_bounds`` (so a mask is needed).
    """

    @staticmethod
    def forward(ctx, x, fp: FixedPoint, rounding: str, overflow: str, seed: int, tensor_id: int,
                step: int, clip_grad: bool):
        y = quantize_checked(x, fp, rounding, overflow, seed, tensor_id, step)
        _save_clip_mask(ctx, x, fp, overflow, clip_grad)
        return y

    @staticmethod
    def backward(ctx, g):
        return _masked_grad(ctx, g), None, None, None, None, None, None, None


class _QuantizerSTE(torch.autograd.Function):
    """``_FixedPointSTE`` for a ``FixedPointTensorQuant``: the grid is chosen inside forward (from
    the same pass that quantizes, see ``FixedPointTensorQuant._quantized``)."""

    @staticmethod
    def forward(ctx, x, tq: "FixedPointTensorQuant", rounding: str, overflow: str, step: int):
        y, fp = tq._quantized(x, rounding, overflow, step)
        _save_clip_mask(ctx, x, fp, overflow, tq._needs_clip_mask(x, fp))
        return y

    @staticmethod
    def backward(ctx, g):
        return _masked_grad(ctx, g), None, None, None, None


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
    def _scalars(self) -> tuple:
        """The 0-d buffers (enabled, frac_auto, frac, calls, bit width) for the per-call path:
        on CPU as numpy views of their memory, elsewhere the tensors themselves (both read with
        int()/bool() and written with ``a[()] = v``). A quantizer call reads or writes these about
        six times; a numpy access costs ~0.2 us where a torch .item()/.fill_() costs 1-5 us (the
        upper end inside a training step, whose big tensors have pushed torch's dispatch code out
        of the caches). Writes land in the buffers' memory, so state_dict, DDP's buffer broadcast
        and exports see them as before. Re-made whenever a buffer tensor is replaced (.to(), a
        module attribute set); never copied or pickled (``__getstate__``)."""
        b = self._buffers
        bit_width = self._modules["bit_width_impl"]._buffers["bit_width"]
        cached = self.__dict__.get("_scalar_views")
        if cached is not None:
            t = cached[0]
            if (t[0] is b["enabled"] and t[1] is b["frac_auto"] and t[2] is b["frac"]
                    and t[3] is b["calls"] and t[4] is bit_width):
                return cached[1]
        tensors = (b["enabled"], b["frac_auto"], b["frac"], b["calls"], bit_width)
        views = tuple(t.numpy() for t in tensors) if all(t.is_cpu for t in tensors) else tensors
        self.__dict__["_scalar_views"] = (tensors, views)
        return views

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_scalar_views", None)  # numpy views of this object's buffers, not a copy's
        return state

    @property
    def bits(self) -> int:
        return int(self._scalars()[4])

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
        # (buffers read from ``_buffers`` and ``_range`` set in ``__dict__``: nn.Module's
        # __getattr__/__setattr__ cost more than the arithmetic of a small tensor's step)
        _, frac_auto, frac_buf, _, bit_width = self._scalars()
        bits = int(bit_width)
        self.__dict__["_range"] = None
        if frac_auto and (self.training or not self._frozen_in_eval):
            max_abs = 0.0
            if x.numel():
                lo, hi = fused.tensor_range(x)  # torch.aminmax's numbers, as exact floats
                self.__dict__["_range"] = (lo, hi)  # reused by the gradient-clip test
                max_abs = max(-lo, hi)
            frac = frac_for_range(max_abs, bits, self.signed)
            frac_buf[()] = frac
            return _fixed_point(bits, frac, self.signed)
        return _fixed_point(bits, int(frac_buf), self.signed)

    #: activations keep the frac of the last training step in eval; weights recompute it
    _frozen_in_eval = False
    #: (min, max) as Python floats of the tensor ``current_fixed_point`` last measured (or None)
    _range: tuple[float, float] | None = None

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        scalars = self._scalars()
        if not scalars[0]:
            return x
        rounding, step = self._next_call(scalars)
        overflow = self.overflow
        if not (x.requires_grad and torch.is_grad_enabled()):
            # nothing to differentiate (an error tensor in backward, the data, inference): the
            # STE's forward without autograd.Function's bookkeeping
            return self._quantized(x, rounding, overflow, step, scalars)[0]
        return _QuantizerSTE.apply(x, self, rounding, overflow, step)

    def _next_call(self, scalars: tuple) -> tuple[str, int]:
        """(rounding, dither step) of this application; counts it when training."""
        rounding = self.rounding
        calls = scalars[3]
        step = int(calls)
        if self.training:
            calls[()] = step + 1
        elif rounding == "stochastic":
            rounding = "nearest"  # the inference copy is deterministic
        return rounding, step

    def quantize_with_mask(self, x: torch.Tensor, want_mask: bool
                           ) -> tuple[torch.Tensor, FixedPoint, torch.Tensor | None]:
        """``quantize`` of an enabled quantizer for a caller that runs its own autograd node
        (hostsw.quant.layers quantizes a layer's operands in one): (x on the grid, the grid,
        where x lay inside its range or None when all of it did or ``want_mask`` is False)."""
        scalars = self._scalars()
        rounding, step = self._next_call(scalars)
        overflow = self.overflow
        y, fp = self._quantized(x, rounding, overflow, step, scalars)
        mask = _inside_mask(x, fp, overflow) if want_mask and self._needs_clip_mask(x, fp) \
            else None
        return y, fp, mask

    def _quantized(self, x: torch.Tensor, rounding: str, overflow: str, step: int,
                   scalars: tuple | None = None) -> tuple[torch.Tensor, FixedPoint]:
        """(x on the grid in force, that grid): ``quantize_checked(x, current_fixed_point(x))``.

        An auto frac is usually the one of the previous step, so where the fused kernel applies
        x is quantized with that frac in one pass that also measures x's range; the frac the range
        gives is then checked, and only if it differs is x quantized again. The result is the same
        either way (the first pass's output is discarded on a miss); on a hit one of the two
        passes over x (range, quantize) is saved.
        """
        _, frac_auto, frac_buf, _, bit_width = scalars or self._scalars()
        if frac_auto and (self.training or not self._frozen_in_eval) and x.numel():
            bits = int(bit_width)
            guess = _fixed_point(bits, int(frac_buf), self.signed)
            got = fused.quantize_and_range(x, guess, rounding, overflow, self.seed,
                                           self.tensor_id, step)
            if got is not None:
                y, lo, hi = got
                self.__dict__["_range"] = (lo, hi)  # reused by the gradient-clip test
                max_abs = max(-lo, hi)
                if frac_is_for_range(guess.frac, max_abs, bits, self.signed):
                    return y, guess  # (the buffer holds it already)
                frac = frac_for_range(max_abs, bits, self.signed)
                frac_buf[()] = frac
                fp = _fixed_point(bits, frac, self.signed)
                return quantize_checked(x, fp, rounding, overflow, self.seed, self.tensor_id,
                                        step), fp
        fp = self.current_fixed_point(x)
        return quantize_checked(x, fp, rounding, overflow, self.seed, self.tensor_id, step), fp

    def _needs_clip_mask(self, x: torch.Tensor, fp: FixedPoint) -> bool:
        """One cheap min/max decides whether a gradient mask is needed at all (usually not: an
        auto frac covers the tensor's range and unsigned inputs come after a ReLU)."""
        if not self.clip_grad or not x.numel():
            return False
        overflow = self.overflow
        if self._range is not None and x.dtype in _COMPARE_DTYPES:
            # in x's dtype, as the mask compares: the bounds as torch converts them, the range
            # as exact Python floats
            lo, hi = _clip_bounds_as(fp, overflow, x.dtype)
            return self._range[0] < lo or self._range[1] > hi
        x_min, x_max = torch.aminmax(x.detach())
        lo, hi = _clip_bounds(fp, overflow)
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
        lo, hi = fused.tensor_range(bias)
        max_abs = max(-lo, hi)
    return _fixed_point(bits, min(int(acc_frac), frac_for_range(max_abs, bits, True)), True)


def quantize_bias(bias: torch.Tensor, acc_frac: int) -> tuple[torch.Tensor, FixedPoint]:
    """(bias on ``bias_fixed_point(bias, acc_frac)``, that grid), rounded to nearest. Usually
    the accumulator grid itself (32 bits hold the bias there): then one pass quantizes with it and
    measures the range that confirms it."""
    acc_frac = int(acc_frac)
    if bias.numel() and abs(acc_frac) <= FRAC_LIMIT:
        fp = _fixed_point(BIAS_BITS, acc_frac, True)
        got = fused.quantize_and_range(bias, fp, "nearest", "saturate", 0, 0, 0)
        if got is not None and frac_for_range(max(-got[1], got[2]), BIAS_BITS, True) >= acc_frac:
            return got[0], fp
    fp = bias_fixed_point(bias, acc_frac)
    return quantize_checked(bias, fp, "nearest", "saturate"), fp


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
