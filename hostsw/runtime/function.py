"""The seam between the quantized layers and the MAC engines: one ``torch.autograd.Function``
whose forward calls the back-end's ``fwd`` and whose backward calls ``bwd_data`` and
``bwd_weight``. The Trainer, controllers, checkpoints and cost meter stay as they are.

What crosses the seam is integers: the layer's quantizers have already put the input activation,
the weight copy and the bias on their grids (the same code as the software path), so
``k = value * 2**frac`` is exact. The host keeps everything else: loss, ReLU, pooling, the error
quantization (PTQ with the hash dither; bifurcated when the layer has a ``grad_w`` precision) and
the fp32 master-weight update. The engine returns exact accumulators (requantized only when they
would not fit the 64-bit output word), which the host turns into float32 as torch would.
"""

from __future__ import annotations

import numpy as np
import torch

from hostsw.errors import ConfigError
from hostsw.fixedpoint import FixedPoint
from hostsw.runtime.spec import Geometry, Operand, OutSpec

#: bits of the engine's output word
OUT_BITS = 64


def _ints(t: torch.Tensor, fp: FixedPoint) -> np.ndarray:
    """Integers k of a tensor that lies on the grid 2**-frac of ``fp`` (exact: power-of-two
    scaling). Clipped to ``fp``'s range: a float32 tensor holds words of more than 24 bits only
    to 24 significant bits, so the largest words may round up by one step past the range (the
    software path computes with those same float32 values)."""
    k = np.rint(t.detach().to(torch.float64).cpu().numpy() * (2.0 ** fp.frac)).astype(np.int64)
    if fp.bits > 24:
        np.clip(k, fp.min_int, fp.max_int, out=k)
    return k


def _floats(k: np.ndarray, frac: int, like: torch.Tensor) -> torch.Tensor:
    v = torch.from_numpy(np.ascontiguousarray(k).astype(np.float64) * (2.0 ** -frac))
    return v.to(dtype=like.dtype, device=like.device)


def _max_abs(k: np.ndarray) -> int:
    return int(np.abs(k).max()) if k.size else 0


def exact_out(acc_frac: int, bound: int) -> OutSpec:
    """The output of an accumulator with |value| <= bound * 2**-acc_frac: exact when it fits the
    64-bit word, else rounded to nearest on the finest grid that holds it."""
    need = bound.bit_length() + 1
    drop = max(0, need - OUT_BITS)
    return OutSpec(FixedPoint.wide_type(OUT_BITS, acc_frac - drop), acc_frac, "nearest",
                   "saturate")


def geometry(layer, x_shape: tuple) -> Geometry:
    args = layer.geometry_args()
    if len(x_shape) == 2:
        b, c = x_shape
        h = w = 1
    else:
        b, c, h, w = x_shape
    return Geometry(batch=b, in_ch=c, in_h=h, in_w=w, out_ch=layer.weight.shape[0], **args)


def _fixed_point(layer, kind: str, what: str) -> FixedPoint:
    q = layer.quantizer(kind)
    if not bool(q.enabled):
        raise ConfigError(f"{what} of a layer is float32: the {layer.mac_backend.name} back-end "
                          "multiplies fixed-point integers only; give every layer a precision or "
                          "use --backend software")
    return q.fixed_point()


class MacFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xq, wq, bq, layer):
        be = layer.mac_backend
        fx = _fixed_point(layer, "act", "the input activation")
        fw = _fixed_point(layer, "weight", "the weight")
        g = geometry(layer, tuple(xq.shape))
        xk, wk = _ints(xq, fx), _ints(wq, fw)
        acc_frac = fx.frac + fw.frac
        bias_op, bias_bound = None, 0
        if bq is not None:
            fb = layer.bias_fixed_point
            bk = _ints(bq, fb)
            if not torch.equal(_floats(bk, fb.frac, bq), bq):
                raise RuntimeError(f"bias is not on its grid {fb}")
            bias_op = Operand(bk, fb)
            bias_bound = _max_abs(bk) << (acc_frac - fb.frac)
        bound = g.fan_in * _max_abs(xk) * _max_abs(wk) + bias_bound
        out = exact_out(acc_frac, bound)
        y = be.fwd(g, Operand(xk, fx), Operand(wk, fw), bias_op, out)
        ctx.layer, ctx.g = layer, g
        ctx.saved = (xk, fx, wk, fw)
        ctx.has_bias = bq is not None
        ctx.like = xq
        return _floats(y, out.fixed_point.frac, xq).reshape(
            (g.batch, g.out_ch) if xq.dim() == 2 else g.y_shape)

    @staticmethod
    def backward(ctx, grad):
        layer, g = ctx.layer, ctx.g
        be = layer.mac_backend
        xk, fx, wk, fw = ctx.saved
        with torch.no_grad():
            e_d = layer.grad_quant.quantize_error(grad)
            f_d = _fixed_point(layer, "grad", "the error (gradient)")
            e_w, f_w = e_d, f_d
            if layer.bifurcated:
                e_w = layer.grad_w_quant.quantize_error(grad)
                f_w = layer.quantizer("grad_w").fixed_point()
        dk_d = _ints(e_d, f_d).reshape(g.y_shape)
        dk_w = dk_d if e_w is e_d else _ints(e_w, f_w).reshape(g.y_shape)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            terms = g.out_ch * g.k_h * g.k_w
            out = exact_out(f_d.frac + fw.frac, terms * _max_abs(dk_d) * _max_abs(wk))
            dx = be.bwd_data(g, Operand(dk_d, f_d), Operand(wk, fw), out)
            gx = _floats(dx, out.fixed_point.frac, ctx.like).reshape(ctx.like.shape)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            terms = g.batch * g.out_h * g.out_w
            out = exact_out(f_w.frac + fx.frac, terms * _max_abs(dk_w) * _max_abs(xk))
            out_b = exact_out(f_w.frac, terms * _max_abs(dk_w)) if ctx.has_bias else None
            dw, db = be.bwd_weight(g, Operand(dk_w, f_w), Operand(xk, fx), out, out_b)
            gw = _floats(dw, out.fixed_point.frac, ctx.like).reshape(layer.weight.shape)
            if ctx.has_bias:
                gb = _floats(db, out_b.fixed_point.frac, ctx.like)
        return gx, gw, gb, None


def _fits(limits, g: Geometry) -> bool:
    try:
        limits.check("", g)
    except ConfigError:
        return False
    return True


def max_batch(layer, sample_shape: tuple) -> int:
    """The largest batch of one call that fits the engine's compiled limits (0: none does)."""
    lo, hi = 0, 1
    limits = layer.mac_backend.limits
    while _fits(limits, geometry(layer, (hi, *sample_shape))) and hi < 1 << 20:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(limits, geometry(layer, (mid, *sample_shape))) else (lo, mid)
    return lo


def mac_apply(layer, xq: torch.Tensor, wq: torch.Tensor, bias) -> torch.Tensor:
    if layer.grad_quant.quantizer_name != "ptq":
        raise ConfigError(f"grad_quantizer {layer.grad_quant.quantizer_name} has no integer "
                          f"grid per tensor: the {layer.mac_backend.name} back-end takes ptq")
    if torch.is_grad_enabled() or _fits(layer.mac_backend.limits,
                                        geometry(layer, tuple(xq.shape))):
        return MacFunction.apply(xq, wq, bias, layer)
    # inference (evaluation) with a batch larger than one call: chunks of the largest that fits;
    # the outputs are exact, so chunking does not change them
    n = max_batch(layer, tuple(xq.shape[1:]))
    if n < 1:
        layer.mac_backend.limits.check(type(layer).__name__, geometry(layer, (1, *xq.shape[1:])))
    return torch.cat([MacFunction.apply(c, wq, bias, layer) for c in xq.split(n)])
