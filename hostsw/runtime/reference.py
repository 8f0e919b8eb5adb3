"""The reference back-end: the kernels' semantics in exact integer arithmetic (the one Python
definition of what hls/include/hostsw_mac.h computes).

Dot products run as float64 torch convolutions / matrix products, which are exact while every
partial sum is an integer below 2**53. Operands whose products could exceed that (AdaPT's 24-32
bit words) are split into limbs, x = sum_j x_j 2**(j L), small enough that each limb product sum
stays exact; the limb sums are recombined in int64 when the bound fits 62 bits, else in Python
integers. The exact accumulator is then requantized by ``hostsw.fixedpoint.requantize_int``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from hostsw.fixedpoint import requantize_int
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.spec import Geometry, Mode, OutSpec

_EXACT = 1 << 53


def _max_abs(a: np.ndarray) -> int:
    return int(np.abs(a).max()) if a.size else 0


def _limbs(a: np.ndarray, n: int, width: int) -> list[np.ndarray]:
    """a = sum_j limbs[j] * 2**(j*width): low limbs unsigned, the top one signed."""
    out = []
    for j in range(n - 1):
        out.append((a >> (j * width)) & ((1 << width) - 1))
    out.append(a >> ((n - 1) * width))
    return out


def _split_plan(max_a: int, max_b: int, terms: int) -> tuple[int, int, int, int]:
    """(limbs of a, width, limbs of b, width) so that terms * |limb_a| * |limb_b| < 2**53."""
    ba, bb = max(1, max_a.bit_length()), max(1, max_b.bit_length())
    budget = 53 - max(1, math.ceil(math.log2(max(terms, 1) + 1)))
    for total in range(2, 12):
        for na in range(1, total):
            nb = total - na
            wa, wb = math.ceil(ba / na), math.ceil(bb / nb)
            if wa + wb <= budget:
                return na, wa, nb, wb
    raise ValueError("operands too wide for the reference's limb plan")


class ReferenceBackend(MacBackend):
    """Exact integer arithmetic in numpy / torch (CPU)."""

    name = "reference"
    hardware = True  # it models the engine: same epoch-switching contract as csim and board

    def _run(self, mode, tier, g: Geometry, a, b, bias, bias_shift, out0: OutSpec,
             out1: OutSpec | None):
        terms = {Mode.FWD: g.fan_in, Mode.BWD_DATA: g.out_ch * g.k_h * g.k_w,
                 Mode.BWD_WEIGHT: g.batch * g.out_h * g.out_w}[mode]
        acc = exact_mac(mode, g, a, b, terms)
        if bias is not None:
            acc = _add(acc, bias.reshape(1, -1, 1, 1).astype(object) * (1 << bias_shift)
                       if _is_wide(acc) or _max_abs(bias) >= 1 << (62 - bias_shift)
                       else bias.reshape(1, -1, 1, 1) << bias_shift)
        y = _requant(acc, out0)
        y2 = None
        if mode == Mode.BWD_WEIGHT and out1 is not None:
            y2 = _requant(a.sum(axis=(0, 2, 3)), out1)
        return y, y2, 0


def _is_wide(x: np.ndarray) -> bool:
    return x.dtype == object


def _add(acc: np.ndarray, v: np.ndarray) -> np.ndarray:
    if _is_wide(acc) or _is_wide(v):
        return acc.astype(object) + v.astype(object)
    bound = _max_abs(acc) + _max_abs(v)
    if bound >= 1 << 62:
        return acc.astype(object) + v.astype(object)
    return acc + v


def _requant(acc: np.ndarray, o: OutSpec) -> np.ndarray:
    return requantize_int(acc, o.shift, o.fixed_point, o.rounding, o.overflow, o.seed,
                          o.tensor_id, o.step)


def _op(mode: Mode, g: Geometry, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The float64 operation of a mode (exact for the limb sizes the plan allows)."""
    dense = g.in_h == g.in_w == g.k_h == g.k_w == 1 and g.pad == 0
    if mode == Mode.FWD:
        if dense:
            return (a.reshape(g.batch, g.in_ch) @ b.reshape(g.out_ch, g.in_ch).T).reshape(g.y_shape)
        return F.conv2d(a, b, stride=g.stride, padding=g.pad)
    if mode == Mode.BWD_DATA:
        if dense:
            return (a.reshape(g.batch, g.out_ch) @ b.reshape(g.out_ch, g.in_ch)).reshape(g.x_shape)
        op = (g.in_h - ((g.out_h - 1) * g.stride - 2 * g.pad + g.k_h),
              g.in_w - ((g.out_w - 1) * g.stride - 2 * g.pad + g.k_w))
        return F.conv_transpose2d(a, b, stride=g.stride, padding=g.pad, output_padding=op)
    if dense:
        return (a.reshape(g.batch, g.out_ch).T @ b.reshape(g.batch, g.in_ch)).reshape(g.w_shape)
    return conv2d_weight(b, g.w_shape, a, stride=g.stride, padding=g.pad)


def exact_mac(mode: Mode, g: Geometry, a: np.ndarray, b: np.ndarray, terms: int) -> np.ndarray:
    """The exact integer result of a mode (int64, or object when it may exceed 62 bits)."""
    max_a, max_b = _max_abs(a), _max_abs(b)
    na, wa, nb, wb = _split_plan(max_a, max_b, terms)
    wide = terms * max_a * max_b >= 1 << 62
    la, lb = _limbs(a, na, wa), _limbs(b, nb, wb)
    acc = None
    with torch.no_grad():
        tb = [torch.from_numpy(x.astype(np.float64)) for x in lb]
        for i, xa in enumerate(la):
            ta = torch.from_numpy(xa.astype(np.float64))
            for j, xb in enumerate(tb):
                part = _op(mode, g, ta, xb).numpy()
                part = np.rint(part).astype(np.int64)  # exact integers below 2**53
                shift = i * wa + j * wb
                if wide:
                    term = part.astype(object) * (1 << shift)
                else:
                    term = part << shift
                acc = term if acc is None else acc + term
    return acc
