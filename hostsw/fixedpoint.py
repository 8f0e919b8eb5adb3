"""The single source of fixed-point truth (spec: shared/specs/fixedpoint.md).

A precision is ``<bits, frac>``: values k * 2**-frac with k an integer of ``bits`` bits, signed
(two's complement) or unsigned. ``FixedPoint`` is the value object; it renders itself as an
``ap_fixed`` type, an hls4ml precision string, QONNX ``Quant`` attributes and Brevitas arguments,
so no other module assembles precision strings.

``quantize`` implements the ap_fixed cast semantics exactly (checked against hls4ml's bundled
ap_types headers by tests/fixedpoint/test_ap_fixed_oracle.py):

* rounding ``nearest`` = round half to even = ``AP_RND_CONV`` (= ``torch.round``, QONNX ``ROUND``),
  ``floor`` = ``AP_TRN`` (QONNX ``FLOOR``), ``stochastic`` = floor(x*2^frac + u) with a
  counter-based dither u that the HLS kernels compute identically (see ``dither_u32``);
* overflow ``saturate`` = ``AP_SAT``, ``saturate_sym`` = ``AP_SAT_SYM``, ``wrap`` = ``AP_WRAP``;
  rounding happens first, overflow handling second, as in ap_fixed.

float32 inputs give float32 results, which are exact while bits <= 24; use float64 (exact up to
53 bits) for wider types.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Callable, Literal, Union

import numpy as np
import torch

from hostsw.errors import ConfigError

Rounding = Literal["nearest", "floor", "stochastic"]
Overflow = Literal["saturate", "saturate_sym", "wrap"]
ROUNDINGS: tuple[str, ...] = ("nearest", "floor", "stochastic")
OVERFLOWS: tuple[str, ...] = ("saturate", "saturate_sym", "wrap")
MAX_BITS = 32
#: widest type a ``FixedPoint.wide`` may describe (ap_fixed's default AP_INT_MAX_W); such types are
#: for derived HLS datapaths (exact accumulators), never for quantizer precisions
MAX_TYPE_BITS = 1024
#: frac outside this range is almost certainly a bug (2**-frac under/overflows float32).
FRAC_LIMIT = 100

_AP_Q = {"nearest": "AP_RND_CONV", "floor": "AP_TRN"}
_AP_O = {"saturate": "AP_SAT", "saturate_sym": "AP_SAT_SYM", "wrap": "AP_WRAP"}
_HLS4ML_Q = {"nearest": "RND_CONV", "floor": "TRN"}
_HLS4ML_O = {"saturate": "SAT", "saturate_sym": "SAT_SYM", "wrap": "WRAP"}
_QONNX_ROUNDING = {"nearest": "ROUND", "floor": "FLOOR"}

ArrayLike = Union[np.ndarray, torch.Tensor]


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range: use {lo}..{hi}")
    return value


def check_rounding(rounding: str) -> str:
    if rounding not in ROUNDINGS:
        raise ConfigError(f"unknown rounding {rounding!r}: use one of {', '.join(ROUNDINGS)}")
    return rounding


def check_overflow(overflow: str) -> str:
    if overflow not in OVERFLOWS:
        raise ConfigError(f"unknown overflow {overflow!r}: use one of {', '.join(OVERFLOWS)}")
    return overflow


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point precision ``<bits, frac>``; value grid k * 2**-frac.

    ``frac`` may be negative or exceed ``bits`` (ap_fixed allows integer bits < 0 or > bits).
    """

    bits: int
    frac: int
    signed: bool = True
    #: allow bits up to MAX_TYPE_BITS (exact accumulator / datapath types; see ``wide_type``)
    wide: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        limit = MAX_TYPE_BITS if self.wide else MAX_BITS
        object.__setattr__(self, "bits", _check_int("bits", self.bits, 1, limit))
        object.__setattr__(self, "frac", _check_int("frac", self.frac, -FRAC_LIMIT, FRAC_LIMIT))
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ConfigError(f"signed must be true or false, got {self.signed!r}")
        object.__setattr__(self, "signed", bool(self.signed))

    # --- grid -------------------------------------------------------------------------------
    @property
    def int_bits(self) -> int:
        """ap_fixed's I: bits to the left of the binary point (sign bit included if signed)."""
        return self.bits - self.frac

    @property
    def step(self) -> float:
        return math.ldexp(1.0, -self.frac)

    @property
    def min_int(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min(self) -> float:
        return math.ldexp(self.min_int, -self.frac)

    @property
    def max(self) -> float:
        return math.ldexp(self.max_int, -self.frac)

    @property
    def levels(self) -> int:
        return 1 << self.bits

    # --- renderings -------------------------------------------------------------------------
    def ap_type(self, rounding: str | None = None, overflow: str | None = None) -> str:
        """The Vitis HLS type, e.g. ``ap_fixed<8,4,AP_RND_CONV,AP_SAT>``."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        args = [str(self.bits), str(self.int_bits)]
        if rounding is not None or overflow is not None:
            args.append(_AP_Q[_hw_rounding(rounding or "floor")])
            if overflow is not None:
                args.append(_AP_O[check_overflow(overflow)])
        return f"{base}<{','.join(args)}>"

    def hls4ml_type(self, rounding: str | None = None, overflow: str | None = None) -> str:
        """hls4ml's precision string, e.g. ``fixed<8,4,RND_CONV,SAT>``."""
        base = "fixed" if self.signed else "ufixed"
        args = [str(self.bits), str(self.int_bits)]
        if rounding is not None or overflow is not None:
            args.append(_HLS4ML_Q[_hw_rounding(rounding or "floor")])
            if overflow is not None:
                args.append(_HLS4ML_O[check_overflow(overflow)])
        return f"{base}<{','.join(args)}>"

    def qonnx_attrs(self, rounding: str = "nearest", narrow: bool = False) -> dict:
        """Inputs and attributes of the QONNX ``Quant`` node that realises this precision."""
        if rounding not in _QONNX_ROUNDING:
            raise ConfigError(
                f"QONNX Quant has no {rounding!r} rounding: export with nearest or floor rounding"
            )
        return {
            "scale": self.step,
            "zeropt": 0.0,
            "bitwidth": float(self.bits),
            "signed": int(self.signed),
            "narrow": int(narrow),
            "rounding_mode": _QONNX_ROUNDING[rounding],
        }

    def brevitas_kwargs(self, narrow: bool = False) -> dict:
        """Arguments of hostsw's Brevitas fixed-point quantizers (bit width + power-of-two scale)."""
        return {"bit_width": self.bits, "frac": self.frac, "signed": self.signed,
                "narrow_range": narrow}

    def as_list(self) -> list[int]:
        return [self.bits, self.frac]

    def __str__(self) -> str:
        return f"<{self.bits},{self.frac}{'' if self.signed else ',u'}>"

    # --- constructors -----------------------------------------------------------------------
    @classmethod
    def wide_type(cls, bits: int, frac: int, signed: bool = True) -> "FixedPoint":
        """A datapath type that may be wider than MAX_BITS (e.g. an exact accumulator)."""
        return cls(bits, frac, signed, wide=True)

    @classmethod
    def for_int_range(cls, k_min: int, k_max: int, frac: int) -> "FixedPoint":
        """The narrowest type on the grid 2**-frac that holds every k in [k_min, k_max] exactly.

        Unsigned when k_min >= 0. The result may be wider than MAX_BITS (``wide``).
        """
        k_min, k_max = int(k_min), int(k_max)
        if k_min > k_max:
            raise ConfigError(f"empty integer range [{k_min}, {k_max}]")
        if k_min >= 0:
            bits = max(1, k_max.bit_length())
            return cls(bits, frac, False, wide=bits > MAX_BITS)
        # two's complement: -2**(b-1) <= k_min and k_max <= 2**(b-1) - 1
        bits = max((-k_min - 1).bit_length(), k_max.bit_length() if k_max > 0 else 0) + 1
        return cls(bits, frac, True, wide=bits > MAX_BITS)

    @classmethod
    def parse(cls, text: str, wide: bool = False) -> "FixedPoint":
        """Parse ``ap_fixed<8,4...>``, ``ap_ufixed<..>``, ``fixed<..>`` or ``ufixed<..>``.

        ``wide=True`` accepts datapath types wider than MAX_BITS.
        """
        t = text.strip().replace(" ", "")
        for prefix, signed in (("ap_ufixed<", False), ("ap_fixed<", True),
                               ("ufixed<", False), ("fixed<", True)):
            if t.startswith(prefix) and t.endswith(">"):
                parts = t[len(prefix):-1].split(",")
                try:
                    bits, int_bits = int(parts[0]), int(parts[1])
                except (ValueError, IndexError):
                    break
                return cls(bits, bits - int_bits, signed, wide=wide and bits > MAX_BITS)
        raise ConfigError(f"cannot parse fixed-point type {text!r}: expected e.g. ap_fixed<8,4>")

    @classmethod
    def for_range(cls, max_abs: float, bits: int, signed: bool = True) -> "FixedPoint":
        """The finest power-of-two grid of ``bits`` bits that holds ``max_abs`` without clipping."""
        return cls(bits, frac_for_range(max_abs, bits, signed), signed)

    # --- arithmetic -------------------------------------------------------------------------
    def quantize(self, x: ArrayLike, rounding: str = "nearest", overflow: str = "saturate",
                 seed: int | None = None, tensor_id: int = 0, step: int = 0) -> ArrayLike:
        return quantize(x, self.bits, self.frac, self.signed, rounding, overflow, seed,
                        tensor_id, step)


def _hw_rounding(rounding: str) -> str:
    check_rounding(rounding)
    if rounding == "stochastic":
        raise ConfigError(
            "ap_fixed has no stochastic rounding mode: hostsw's HLS kernels implement it with "
            "the hash dither; render the type with rounding='floor' and add the dither"
        )
    return rounding


def frac_is_for_range(frac: int, max_abs: float, bits: int, signed: bool = True) -> bool:
    """``frac == frac_for_range(max_abs, bits, signed)``, in two comparisons where frac lies
    strictly inside the frac limits (the per-step quantizers check their guess with this: it is
    frac_for_range's definition, the largest frac at which max_abs fits). False for a
    non-finite max_abs, which no frac holds (frac_for_range refuses it)."""
    if not math.isfinite(max_abs):
        return False
    max_k = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if max_abs > 0.0 and max_k > 0 and -FRAC_LIMIT < frac < FRAC_LIMIT:
        return math.ldexp(max_k, -frac) >= max_abs > math.ldexp(max_k, -frac - 1)
    return frac == frac_for_range(max_abs, bits, signed)


def frac_for_range(max_abs: float, bits: int, signed: bool = True) -> int:
    """Largest frac such that ``max_abs`` fits in ``bits`` bits without saturating.

    This is Brevitas' power-of-two scale rule: scale = 2**ceil(log2(max_abs / max_int)).
    """
    bits = _check_int("bits", bits, 1, MAX_BITS)
    max_abs = float(max_abs)
    if not math.isfinite(max_abs):
        raise ConfigError(f"cannot choose a fixed-point range for a non-finite value ({max_abs})")
    max_k = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if max_abs <= 0.0:
        return min(bits - 1, FRAC_LIMIT) if signed else min(bits, FRAC_LIMIT)
    if max_k == 0:  # 1-bit signed: the only non-zero value is -2**-frac
        frac = -math.ceil(math.log2(max_abs))
    else:
        # (log2 of each: max_abs / max_k underflows to 0 for subnormal max_abs)
        frac = -math.ceil(math.log2(max_abs) - math.log2(max_k))
        # log2 may be off by one ulp near powers of two: make sure max_abs really fits
        while math.ldexp(max_k, -frac) < max_abs:
            frac -= 1
        while frac < FRAC_LIMIT and math.ldexp(max_k, -(frac + 1)) >= max_abs:
            frac += 1
    return max(-FRAC_LIMIT, min(FRAC_LIMIT, frac))


# --- counter-based dither (software and HLS compute the same numbers) ---------------------------
_M32 = 0xFFFFFFFF


def lowbias32(x: int) -> int:
    """Chris Wellons' lowbias32 integer hash on one 32-bit value (the scalar reference)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    x ^= x >> 16
    return x


def dither_key(seed: int, tensor_id: int, step: int) -> int:
    """32-bit stream key: lowbias32(lowbias32(lowbias32(seed) ^ tensor_id) ^ step)."""
    return lowbias32(_stream_base(seed, tensor_id) ^ (step & _M32))


@lru_cache(maxsize=4096)
def _stream_base(seed: int, tensor_id: int) -> int:
    """The step-independent part of ``dither_key`` (computed once per tensor: every training
    quantizer call needs a key)."""
    return lowbias32(lowbias32(seed) ^ (tensor_id & _M32))


def _as_int32(v: int) -> int:
    v &= _M32
    return v - (1 << 32) if v >= 1 << 31 else v


def _dither_i32(numel: int, seed: int, tensor_id: int, step: int,
                device: torch.device | str | None) -> torch.Tensor:
    """The dither's 32 bits as int32 bit patterns.

    int32 with wrap-around multiplication is about 3x faster than int64 on CPU, and in-place
    operations another 3x (this runs on every gradient element of every step); masks after the
    arithmetic right shifts make them logical.
    """
    key = _as_int32(dither_key(seed, tensor_id, step))
    x = torch.arange(numel, dtype=torch.int32, device=device).bitwise_xor_(key)
    t = torch.empty_like(x)
    for shift, mask, mult in ((16, 0xFFFF, 0x7FEB352D), (15, 0x1FFFF, _as_int32(0x846CA68B)),
                              (16, 0xFFFF, None)):
        torch.bitwise_right_shift(x, shift, out=t)
        x.bitwise_xor_(t.bitwise_and_(mask))
        if mult is not None:
            x.mul_(mult)
    return x


def dither_u32(numel: int, seed: int, tensor_id: int = 0, step: int = 0,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Dither h_i = lowbias32(key ^ i) for flat element index i, as int64 in [0, 2**32).

    tests/fixedpoint check it against the scalar ``lowbias32``.
    """
    return _dither_i32(numel, seed, tensor_id, step, device).to(torch.int64) & _M32


_I32_MIN = -(1 << 31)


# --- quantize -----------------------------------------------------------------------------------
def quantize(x: ArrayLike, bits: int, frac: int, signed: bool = True, rounding: str = "nearest",
             overflow: str = "saturate", seed: int | None = None, tensor_id: int = 0,
             step: int = 0) -> ArrayLike:
    """Cast ``x`` onto the ``<bits, frac>`` grid with ap_fixed semantics.

    Works on numpy arrays and torch tensors (any device); returns the same kind and float dtype
    (integer inputs become float64). Stochastic rounding draws its dither from
    ``dither_u32(x.numel(), seed or 0, tensor_id, step)`` over the row-major flat index, so the
    HLS kernels reproduce it exactly. Not differentiable: use ``hostsw.quant`` for training.
    """
    fp = FixedPoint(bits, frac, signed)
    check_rounding(rounding)
    check_overflow(overflow)
    if isinstance(x, np.ndarray) or np.isscalar(x):
        arr = np.asarray(x)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        # (ascontiguousarray makes 0-d arrays 1-d: restore the shape so scalars stay 0-d)
        t = torch.from_numpy(np.ascontiguousarray(arr).reshape(arr.shape))
        out = _quantize_tensor(t, fp, rounding, overflow, seed, tensor_id, step)
        return out.numpy()
    if isinstance(x, torch.Tensor):
        t = x if x.is_floating_point() else x.to(torch.float64)
        return _quantize_tensor(t, fp, rounding, overflow, seed, tensor_id, step)
    raise TypeError(f"quantize() takes a numpy array or torch tensor, got {type(x).__name__}")


def quantize_checked(x: torch.Tensor, fp: FixedPoint, rounding: str, overflow: str,
                     seed: int | None = None, tensor_id: int = 0, step: int = 0) -> torch.Tensor:
    """``quantize`` of a floating-point torch tensor with a ``FixedPoint`` and a rounding and
    overflow mode its caller has already checked: the training quantizers' per-step path, without
    re-validating the same arguments at every call. Same results as ``quantize``."""
    if not x.is_floating_point():
        return quantize(x, fp.bits, fp.frac, fp.signed, rounding, overflow, seed, tensor_id, step)
    return _quantize_tensor(x, fp, rounding, overflow, seed, tensor_id, step)


#: optional one-pass copy of ``_quantize_reference`` (``hostsw.quant.fused`` registers it; tests
#: hold it bit-identical): called as fn(x, fp, rounding, overflow, seed, tensor_id, step), it
#: returns None for what it does not handle
_fast_path: Callable | None = None


def register_fast_path(fn: Callable | None) -> None:
    """Install (or, with None, remove) the fast path of ``quantize``; semantics stay here."""
    global _fast_path
    _fast_path = fn


def _quantize_tensor(x: torch.Tensor, fp: FixedPoint, rounding: str, overflow: str,
                     seed: int | None, tensor_id: int, step: int) -> torch.Tensor:
    if _fast_path is not None:
        y = _fast_path(x, fp, rounding, overflow, seed, tensor_id, step)
        if y is not None:
            return y
    return _quantize_reference(x, fp, rounding, overflow, seed, tensor_id, step)


def _quantize_reference(x: torch.Tensor, fp: FixedPoint, rounding: str, overflow: str,
                        seed: int | None, tensor_id: int, step: int) -> torch.Tensor:
    scaled = x * (2.0 ** fp.frac)  # exact: power-of-two scaling, unless it underflows (frac < 0)
    if fp.frac < 0 and rounding != "nearest":
        # x < 0 so tiny that x * 2**frac underflowed to -0.0: keep it negative (floor -1, as in
        # ap_fixed); the smallest subnormal also gives the exact stochastic threshold 2**32 - 1
        tiny = torch.finfo(scaled.dtype).smallest_normal * torch.finfo(scaled.dtype).eps
        scaled = torch.where((scaled == 0) & (x < 0), -tiny, scaled)
    # in place from here on: fresh large tensors cost page faults, which dominate on small CPUs
    k = round_scaled(scaled, rounding, seed, tensor_id, step)
    k = apply_overflow(k, fp, overflow)
    return k.mul_(2.0 ** -fp.frac)


def round_scaled(scaled: torch.Tensor, rounding: str, seed: int | None = None,
                 tensor_id: int = 0, step: int = 0) -> torch.Tensor:
    """Round values already multiplied by 2**frac to integers (kept in the float dtype).

    Works in place: ``scaled`` is overwritten and returned.
    """
    if rounding == "nearest":
        return scaled.round_()  # half to even
    if rounding == "floor":
        return scaled.floor_()
    # stochastic: round up iff h < floor(fraction * 2**32), fraction = scaled - floor(scaled),
    # compared as unsigned 32-bit numbers (xor with INT32_MIN maps unsigned order onto signed
    # int32 order). floor(fraction * 2**32) = floor(scaled * 2**32) mod 2**32 because
    # floor(scaled) * 2**32 is a multiple of 2**32, and the int32 cast of the int64 keeps exactly
    # those low 32 bits. Power-of-two scaling and floor are exact, so nothing rounds (a direct
    # scaled - low would round for -1 < scaled < 0). The int64 must not overflow: float64 takes
    # an exact fmod first; narrower floats are clamped to +-2**24, beyond which they have no
    # fraction bits (cheaper than fmod on the hot gradient path): +-2**56 after scaling.
    threshold = stochastic_threshold_i32(scaled).bitwise_xor_(_I32_MIN)
    low = scaled.floor_()
    h = _dither_i32(scaled.numel(), 0 if seed is None else int(seed), tensor_id, step,
                    scaled.device).view(scaled.shape).bitwise_xor_(_I32_MIN)
    return low.add_(h < threshold)


def stochastic_threshold_i32(scaled: torch.Tensor) -> torch.Tensor:
    """floor(fraction(scaled) * 2**32) as int32 bit patterns: stochastic rounding's threshold.

    (``round_scaled``'s derivation; tests/quant/test_fused.py compares the C++ mirror with it for
    every float32.)
    """
    if scaled.dtype == torch.float64:
        wide = torch.floor(scaled * 4294967296.0).fmod_(4294967296.0)
    else:
        wide = torch.mul(scaled, 4294967296.0).clamp_(-2.0 ** 56, 2.0 ** 56).floor_()
    return wide.to(torch.int64).to(torch.int32)


def apply_overflow(k: torch.Tensor, fp: FixedPoint, overflow: str) -> torch.Tensor:
    """Saturate (in place) or wrap integer-valued ``k`` to the range of ``fp``.

    ``wrap`` is exact for every finite k, also |k| >= 2**63 (fmod is exact; an int64 cast is
    not); +-inf wraps to 0 like ap_fixed (2**1024 is a multiple of 2**bits). ``saturate_sym`` on a
    1-bit signed type equals ``saturate`` (range {-2**-frac, 0}), as in ap_fixed: -max = 0 would
    lose the only non-zero value.
    """
    if overflow == "wrap":
        m = float(1 << fp.bits)
        r = torch.fmod(torch.nan_to_num(k, nan=0.0, posinf=0.0, neginf=0.0), m)
        r = torch.where(r < 0, r + m, r)
        if fp.signed:
            r = torch.where(r >= m / 2, r - m, r)
        return r
    lo = fp.min_int
    if overflow == "saturate_sym" and fp.signed and fp.bits > 1:
        lo = -fp.max_int
    return k.clamp_(lo, fp.max_int)


# --- integer requantization (the training kernels' output stage) --------------------------------
#: |acc| below this takes the vectorized int64 path; wider accumulators use exact Python integers
_INT64_SAFE = 1 << 62


def requantize_int(acc: np.ndarray, shift: int, out: FixedPoint, rounding: str = "nearest",
                   overflow: str = "saturate", seed: int | None = None, tensor_id: int = 0,
                   step: int = 0) -> np.ndarray:
    """The ap_fixed cast of exact integers ``acc`` (value acc * 2**-F) onto ``out``'s grid
    2**-(F - shift), returned as int64 integers k of ``out`` (value k * 2**-out.frac).

    This is the runtime requantizer of the HLS training kernels (hls/include/hostsw_mac.h):
    ``shift > 0`` drops ``shift`` bits with nearest-even, floor or stochastic rounding (the dither
    of ``quantize``, element index = row-major flat index), ``shift <= 0`` shifts left; then
    ``overflow`` saturates, symmetric-saturates or wraps to ``out.bits`` (<= 64 signed, <= 63
    unsigned). ``acc`` is an int64 array or an object array of Python ints (exact accumulators
    wider than 62 bits). Checked against ``quantize`` (oracle-checked against ap_fixed) and
    against ap_fixed casts in C++ (tests/fixedpoint/test_requantize.py).
    """
    check_rounding(rounding)
    check_overflow(overflow)
    shift = int(shift)
    if not -64 <= shift <= 127:
        raise ConfigError(f"requantize shift={shift} is out of range: use -64..127")
    if out.bits > (64 if out.signed else 63):
        raise ConfigError(f"requantize output {out} is wider than a 64-bit output word")
    arr = np.asarray(acc)
    shape = arr.shape
    flat = arr.reshape(-1)
    h = None
    if rounding == "stochastic":
        h = dither_u32(flat.size, 0 if seed is None else int(seed), tensor_id, step).numpy()
    wide = flat.dtype == object and flat.size and max(abs(int(flat.max())),
                                                      abs(int(flat.min()))) >= _INT64_SAFE
    if not wide:
        k = _requantize_int64(flat.astype(np.int64), shift, out, rounding, overflow, h)
    else:
        k = _requantize_python(flat, shift, out, rounding, overflow, h)
    return k.reshape(shape)


def _bounds(out: FixedPoint, overflow: str) -> tuple[int, int]:
    hi = out.max_int
    lo = out.min_int
    if overflow == "saturate_sym" and out.signed and out.bits > 1:
        lo = -hi
    return lo, hi


def _requantize_int64(a: np.ndarray, s: int, out: FixedPoint, rounding: str, overflow: str,
                      h: np.ndarray | None) -> np.ndarray:
    """|a| < 2**62: every intermediate below stays inside int64."""
    if np.any(np.abs(a) >= _INT64_SAFE):
        return _requantize_python(a.astype(object), s, out, rounding, overflow, h)
    if s > 0:
        sc = min(s, 62)
        fl = a >> sc  # floor(a / 2**s) exactly: |a| < 2**62 makes it 0 or -1 for s >= 62
        if rounding == "floor":
            q = fl
        elif rounding == "nearest":
            if s >= 62:  # |a| < 2**(s-1): nearest is 0 for either sign
                q = np.zeros_like(a)
            else:
                rem = a - (fl << s)
                half = np.int64(1) << (s - 1)
                q = fl + ((rem > half) | ((rem == half) & ((fl & 1) == 1)))
        else:
            t = min(s, 32)
            # the top t of the s discarded bits of a (two's complement, infinitely sign-extended)
            r_top = (a >> min(s - t, 63)) & ((np.int64(1) << t) - 1)
            q = fl + ((h >> (32 - t)) < r_top)
    elif s == 0:
        q = a
    else:
        lo, hi = _bounds(out, overflow)
        if overflow == "wrap":
            # modulo 2**64 is enough for any output of <= 64 bits
            q = (a.astype(np.uint64) << np.uint64(-s)).astype(np.int64) if -s < 64 else \
                np.zeros_like(a)
        else:
            # saturate before the shift (no int64 overflow): a * 2**n > hi iff a > floor(hi / 2**n),
            # a * 2**n < lo iff a < ceil(lo / 2**n)
            n = -s
            c_hi, c_lo = hi >> n, -((-lo) >> n)
            inside = np.clip(a, c_lo, c_hi) << np.int64(min(n, 63))
            return np.where(a > c_hi, hi, np.where(a < c_lo, lo, inside)).astype(np.int64)
    return _overflow_int64(q.astype(np.int64), out, overflow)


def _overflow_int64(q: np.ndarray, out: FixedPoint, overflow: str) -> np.ndarray:
    if overflow == "wrap":
        if out.bits == 64:
            return q
        drop = np.uint64(64 - out.bits)
        u = q.astype(np.uint64) << drop
        return (u.astype(np.int64) >> drop.astype(np.int64)) if out.signed else \
            (u >> drop).astype(np.int64)
    lo, hi = _bounds(out, overflow)
    return np.clip(q, lo, hi).astype(np.int64)


def _requantize_python(a: np.ndarray, s: int, out: FixedPoint, rounding: str, overflow: str,
                       h: np.ndarray | None) -> np.ndarray:
    """Exact on Python integers of any width (one element at a time: for wide accumulators)."""
    lo, hi = _bounds(out, overflow)
    res = np.empty(a.size, dtype=np.int64)
    t = min(s, 32)
    for i, v in enumerate(a.tolist()):
        v = int(v)
        if s > 0:
            q = v >> s
            rem = v - (q << s)
            if rounding == "nearest":
                half = 1 << (s - 1)
                q += rem > half or (rem == half and q & 1 == 1)
            elif rounding == "stochastic":
                q += (int(h[i]) >> (32 - t)) < (rem >> (s - t))
        else:
            q = v << -s
        if overflow == "wrap":
            q &= (1 << out.bits) - 1
            if out.signed and q >> (out.bits - 1):
                q -= 1 << out.bits
        else:
            q = min(max(q, lo), hi)
        res[i] = q
    return res


# --- exact integer helpers for the export flow ---------------------------------------------------
def int_bounds(bits: int, signed: bool = True, narrow: bool = False) -> tuple[int, int]:
    """(lo, hi) integer range of a ``bits``-bit word; ``narrow`` drops the most negative value
    (signed, QONNX narrow_range / AP_SAT_SYM) or the largest one (unsigned QONNX narrow_range)."""
    bits, narrow = int(bits), int(bool(narrow))
    if signed:
        return -(1 << (bits - 1)) + narrow, (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - narrow


_EXPORT_ROUNDING = {"ROUND": "nearest", "FLOOR": "floor", "nearest": "nearest", "floor": "floor"}


def shift_round_int(k, shift: int, rounding: str = "nearest"):
    """Exact ``k * 2**-shift`` rounded to an integer, unbounded (no overflow handling).

    ``k``: a Python int or an integer ndarray (int64 or object of Python ints); ``rounding``:
    "nearest" (half-to-even, AP_RND_CONV; QONNX "ROUND") or "floor" (toward -inf, AP_TRN; QONNX
    "FLOOR"). ``shift <= 0`` is an exact left shift. The saturating form is ``requantize_int``.
    """
    mode = _EXPORT_ROUNDING.get(rounding)
    if mode is None:
        raise ConfigError(f"shift_round_int rounding={rounding!r}: use nearest or floor")
    shift = int(shift)
    if shift <= 0:
        return k * (1 << -shift)
    q = k >> shift
    if mode == "floor":
        return q
    r = k - (q << shift)
    half = 1 << (shift - 1)
    up = (r > half) | ((r == half) & ((q & 1) == 1))
    return q + up if not isinstance(k, int) else q + int(up)


def quantize_scaled_exact(x, frac: int, bits: int, signed: bool = True, narrow: bool = False,
                          rounding: str = "nearest") -> np.ndarray:
    """Float values onto the ``<bits, frac>`` grid as exact saturated integers k (value k *
    2**-frac): int64 for bits <= 62, else object. Scaling by 2**frac is exact in float64 and
    numpy's round is half-to-even (AP_RND_CONV); "floor" is AP_TRN."""
    mode = _EXPORT_ROUNDING.get(rounding)
    if mode is None:
        raise ConfigError(f"quantize_scaled_exact rounding={rounding!r}: use nearest or floor")
    y = np.ldexp(np.asarray(x, dtype=np.float64), int(frac))
    y = np.round(y) if mode == "nearest" else np.floor(y)
    lo, hi = int_bounds(bits, signed, narrow)
    y = np.clip(y, lo, hi)
    return y.astype(np.int64) if bits <= 62 else y.astype(object)
