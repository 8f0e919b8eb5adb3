"""Exact fixed-point type of every tensor of a canonical graph.

Each tensor gets a grid 2**-frac and a proven integer range [k_min, k_max] of its values on that
grid (worst case over every input the graph's input quantizer can produce, with the trained
constants). Its *type* is the narrowest ``FixedPoint`` holding that range -- except quantizer
outputs, whose type is the quantizer's own. MAC accumulators therefore never overflow and never
round: "accumulate exactly, round once" (shared/specs/fixedpoint.md), with widths derived from the
actual weights rather than the generic bits_a + bits_w + log2(fan_in) + 1 bound.

The same module lists the MAC layers (input, weight, bias, accumulator types) that
``precision_plan.json`` and the hls4ml configuration are made of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from onnx import helper

from hostsw.errors import UnsupportedModelError
from hostsw.export.graph import Canonical
from hostsw.export.validate import check_op, check_quant, fail
from hostsw.fixedpoint import FixedPoint, int_bounds, shift_round_int


def shift_round(k, shift: int, mode: str = "ROUND"):
    """k * 2**-shift rounded to an integer (k: int or integer ndarray, int64 or object).

    ROUND is half-to-even (AP_RND_CONV), FLOOR toward -inf (AP_TRN); shift <= 0 is exact.
    (``hostsw.fixedpoint.shift_round_int``.)
    """
    return shift_round_int(k, shift, mode)


@dataclass(frozen=True)
class TensorType:
    """Values k * 2**-frac with k in [k_min, k_max]; ``fp`` is the type that holds them."""

    k_min: int
    k_max: int
    frac: int
    fp: FixedPoint

    @classmethod
    def of_range(cls, k_min: int, k_max: int, frac: int) -> "TensorType":
        k_min, k_max = int(k_min), int(k_max)
        return cls(k_min, k_max, frac, FixedPoint.for_int_range(k_min, k_max, frac))

    def on_grid(self, frac: int) -> tuple[int, int]:
        """The range expressed on a finer grid (frac >= self.frac)."""
        s = frac - self.frac
        return self.k_min << s, self.k_max << s

    @property
    def max_abs(self) -> int:
        return max(abs(self.k_min), abs(self.k_max))


@dataclass(frozen=True)
class QuantSpec:
    bits: int
    frac: int
    signed: bool
    narrow: bool
    rounding: str  # ROUND | FLOOR

    @property
    def fp(self) -> FixedPoint:
        return FixedPoint(self.bits, self.frac, self.signed)

    @property
    def k_min(self) -> int:
        return int_bounds(self.bits, self.signed, self.narrow)[0]

    @property
    def k_max(self) -> int:
        return int_bounds(self.bits, self.signed, self.narrow)[1]

    @property
    def rounding_name(self) -> str:
        return "nearest" if self.rounding == "ROUND" else "floor"

    @property
    def overflow_name(self) -> str:
        return "saturate_sym" if self.narrow else "saturate"

    def hls4ml_type(self) -> str:
        return self.fp.hls4ml_type(self.rounding_name, self.overflow_name)

    def ap_type(self) -> str:
        return self.fp.ap_type(self.rounding_name, self.overflow_name)


@dataclass
class MacLayer:
    """One Linear/Conv layer of the canonical graph, with everything the HLS types derive from."""

    node: str                  # canonical MAC node (MatMul_0, Conv_1)
    name: str                  # layer name (training module name when known)
    op: str                    # MatMul | Conv
    act: FixedPoint            # type of the input
    act_quant: QuantSpec | None  # the input quantizer, when the input comes straight from one
    weight: QuantSpec
    weight_k: np.ndarray       # integer weights (ONNX layout)
    bias: FixedPoint | None    # narrowest type holding the bias values on their grid
    bias_k: np.ndarray | None
    bias_frac: int | None
    bias_node: str | None      # the Add node carrying a MatMul's bias
    acc: FixedPoint            # exact accumulator (bias included) = the layer's output type
    fan_in: int
    output: str                # tensor holding the accumulator (after the bias Add)
    mac_output: str = ""       # the MAC node's own output (hls4ml's fused Dense writes this one)
    conv: dict = field(default_factory=dict)  # strides, pads
    #: max over outputs of sum |w| * max|x| (+|b|): bounds every partial sum, in accumulator LSBs
    bound: int = 0

    def plan_entry(self) -> dict:
        return {
            "node": self.node,
            "weight": self.weight.ap_type(),
            "act": self.act_quant.ap_type() if self.act_quant else self.act.ap_type(),
            "bias": None if self.bias is None else self.bias.ap_type(),
            "accumulator": self.acc.ap_type(),
            "fan_in": self.fan_in,
        }


@dataclass
class GraphTypes:
    tensors: dict[str, TensorType]
    quants: dict[str, QuantSpec]      # Quant node name -> spec (activations and constants)
    quant_outputs: dict[str, QuantSpec]  # activation tensor produced by a Quant node -> spec
    macs: list[MacLayer]
    input_quant: QuantSpec            # the quantizer the graph input goes through first
    #: node name -> {hls4ml precision key: hls4ml type string}
    hls_precision: dict[str, dict[str, str]]
    #: BatchNormalization node -> (alpha k, alpha frac, beta k, beta frac)
    bn: dict[str, tuple] = field(default_factory=dict)
    avg_shift: dict[str, int] = field(default_factory=dict)
    #: output tensor of an average pool -> its exact sum type (the pool is a depthwise conv in HLS)
    avg_accum: dict[str, FixedPoint] = field(default_factory=dict)

    def mac(self, node: str) -> MacLayer:
        return next(m for m in self.macs if m.node == node)


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def dyadic(values: np.ndarray) -> tuple[list[int], int]:
    """Exact integers k and one frac with values == k * 2**-frac (float32/64 are dyadic)."""
    ratios = [float(v).as_integer_ratio() for v in np.asarray(values, dtype=np.float64).ravel()]
    if not all(math.isfinite(float(v)) for v in np.asarray(values).ravel()):
        raise ValueError("non-finite value")
    frac = max([d.bit_length() - 1 for _, d in ratios] + [0])
    return [n << (frac - (d.bit_length() - 1)) for n, d in ratios], frac


def _mac_bounds(w: np.ndarray, x: TensorType, include_zero: bool) -> tuple[np.ndarray, ...]:
    """Per-output (lo, hi, sum|w|*max|x|) of sum_i w_i x_i for x_i in the range; w: (n_out, fan_in)."""
    w = w.astype(object)
    xlo, xhi = x.k_min, x.k_max
    if include_zero:  # zero padding feeds zeros into the window
        xlo, xhi = min(xlo, 0), max(xhi, 0)
    pos = np.where(w > 0, w, 0).sum(axis=1)
    neg = np.where(w < 0, w, 0).sum(axis=1)
    lo = pos * xlo + neg * xhi
    hi = pos * xhi + neg * xlo
    mag = (pos - neg) * max(abs(xlo), abs(xhi))
    return lo, hi, mag


def infer_types(canon: Canonical) -> GraphTypes:
    """Walk the canonical graph in order; raise UnsupportedModelError naming the first node
    outside the supported family."""
    m = canon.model
    tensors: dict[str, TensorType] = {}
    quants: dict[str, QuantSpec] = {}
    macs: list[MacLayer] = []
    prec: dict[str, dict[str, str]] = {}
    bn: dict[str, tuple] = {}
    avg_shift: dict[str, int] = {}
    avg_accum: dict[str, FixedPoint] = {}
    raw = {canon.input_name}   # float tensors not yet quantized (only layout ops may touch them)
    input_quant = None
    consumed_bias: set[str] = set()
    quant_of: dict[str, QuantSpec] = {}   # tensor -> spec of the Quant node producing it
    const_k: dict[str, tuple[np.ndarray, QuantSpec]] = {}  # quantized constants

    def typed(node, name) -> TensorType:
        if name in raw:
            raise fail(node, "consumes the float graph input before any Quant node: the input "
                             "must be quantized first (a float-only layer cannot run in ap_fixed)")
        if name in const_k or m.get_initializer(name) is not None:
            raise fail(node, f"input {name} is a constant where a tensor was expected")
        if name not in tensors:
            raise fail(node, f"input {name} has no fixed-point type (float tensor)")
        return tensors[name]

    for node in m.graph.node:
        check_op(node)
        op, name = node.op_type, node.name
        out = node.output[0] if node.output else None
        if op == "Quant":
            const = m.get_initializer(node.input[0])
            bits, frac, signed, narrow, mode = check_quant(m, node, const is not None)
            spec = QuantSpec(bits, frac, signed, narrow, mode)
            quants[name] = spec
            if const is not None:
                from hostsw.export.graph import exact_quant_int
                k = exact_quant_int(const, frac, bits, signed, narrow, mode)
                const_k[out] = (k, spec)
                continue
            src = node.input[0]
            if src in raw:
                if input_quant is None:
                    input_quant = spec
                tensors[out] = TensorType(spec.k_min, spec.k_max, frac, spec.fp)
            else:
                t = typed(node, src)
                lo = max(spec.k_min, min(spec.k_max, shift_round(t.k_min, t.frac - frac, mode)))
                hi = max(spec.k_min, min(spec.k_max, shift_round(t.k_max, t.frac - frac, mode)))
                tensors[out] = TensorType(lo, hi, frac, spec.fp)
            quant_of[out] = spec
            continue
        if op in ("Flatten", "Reshape", "Transpose", "Identity"):
            src = node.input[0]
            if src in raw:
                raw.add(out)
                continue
            tensors[out] = typed(node, src)
            if src in quant_of:
                quant_of[out] = quant_of[src]
            prec[name] = {"result": tensors[out].fp.hls4ml_type()}
            continue
        if op in ("MatMul", "Conv"):
            x = typed(node, node.input[0])
            if node.input[1] not in const_k:
                raise fail(node, "weights are float (no Quant node on them): ONNX models with "
                                 "float-only layers cannot be converted to ap_fixed")
            wk, wspec = const_k[node.input[1]]
            conv = {}
            if op == "MatMul":
                if wk.ndim != 2:
                    raise fail(node, "only matrix weights (Linear layers) are supported")
                w2 = wk.T  # (n_out, fan_in)
                include_zero = False
            else:
                group = int(_attr(node, "group", 1))
                dil = list(_attr(node, "dilations", [1, 1]))
                if wk.ndim != 4:
                    raise fail(node, "only 2-D convolutions are supported")
                if group != 1:
                    raise fail(node, f"grouped convolution (group={group}) is not supported")
                if any(d != 1 for d in dil):
                    raise fail(node, f"dilated convolution {dil} is not supported")
                pads = list(_attr(node, "pads", [0, 0, 0, 0]))
                conv = {"strides": list(_attr(node, "strides", [1, 1])), "pads": pads}
                w2 = wk.reshape(wk.shape[0], -1)
                include_zero = any(pads)
            lo, hi, mag = _mac_bounds(w2, x, include_zero)
            frac = x.frac + wspec.frac
            bias_k = bias_frac = bias_fp = bias_node = None
            acc_out = out
            bias_src = None
            if op == "Conv" and len(node.input) > 2 and node.input[2]:
                bias_src = node.input[2]
            elif op == "MatMul":
                cons = m.find_consumers(out)
                if len(cons) == 1 and cons[0].op_type == "Add":
                    other = [i for i in cons[0].input if i != out]
                    if len(other) == 1 and (other[0] in const_k or
                                            m.get_initializer(other[0]) is not None):
                        bias_src, bias_node = other[0], cons[0].name
                        acc_out = cons[0].output[0]
            if bias_src is not None:
                if bias_src not in const_k:
                    raise fail(node, "bias is float (no Quant node on it): quantize the bias "
                                     "(e.g. Brevitas Int32Bias on the accumulator grid)")
                bk, bspec = const_k[bias_src]
                bias_k, bias_frac, bias_fp = bk.reshape(-1), bspec.frac, bspec.fp
                if bias_k.size != len(lo):
                    raise fail(node, f"bias has {bias_k.size} values for {len(lo)} outputs")
                fa = max(frac, bias_frac)
                s, sb = fa - frac, fa - bias_frac
                b_obj = bias_k.astype(object)
                lo = lo * (1 << s) + b_obj * (1 << sb)
                hi = hi * (1 << s) + b_obj * (1 << sb)
                mag = mag * (1 << s) + np.abs(b_obj) * (1 << sb)
                frac = fa
                if bias_node is not None:
                    consumed_bias.add(bias_node)
            acc = TensorType.of_range(min(lo), max(hi), frac)
            tensors[acc_out] = acc
            if acc_out != out:
                tensors[out] = acc
            layer = MacLayer(
                node=name, name=canon.layer_names.get(name, name), op=op, act=x.fp,
                act_quant=quant_of.get(node.input[0]), weight=wspec, weight_k=wk,
                bias=bias_fp, bias_k=bias_k, bias_frac=bias_frac, bias_node=bias_node,
                acc=acc.fp, fan_in=int(w2.shape[1]), output=acc_out, mac_output=out, conv=conv,
                bound=int(max(mag)) if len(mag) else 0)
            macs.append(layer)
            # a MatMul's bias Add is fused into the Dense only while the Dense's result type is
            # left to hls4ml; convert.apply_exact_types sets it afterwards
            prec[name] = {"accum": acc.fp.hls4ml_type()} if bias_node else \
                {"accum": acc.fp.hls4ml_type(), "result": acc.fp.hls4ml_type()}
            continue
        if op == "Add":
            if name in consumed_bias:
                continue
            a, b = (typed(node, i) for i in node.input)
            frac = max(a.frac, b.frac)
            (alo, ahi), (blo, bhi) = a.on_grid(frac), b.on_grid(frac)
            tensors[out] = TensorType.of_range(alo + blo, ahi + bhi, frac)
            prec[name] = {"result": tensors[out].fp.hls4ml_type()}
            continue
        if op == "Relu":
            x = typed(node, node.input[0])
            tensors[out] = TensorType.of_range(max(x.k_min, 0), max(x.k_max, 0), x.frac)
            prec[name] = {"result": tensors[out].fp.hls4ml_type()}
            continue
        if op == "MaxPool":
            x = typed(node, node.input[0])
            if int(_attr(node, "ceil_mode", 0)) or any(d != 1 for d in _attr(node, "dilations", [1, 1])):
                raise fail(node, "ceil_mode / dilation pooling is not supported")
            tensors[out] = x
            prec[name] = {"result": x.fp.hls4ml_type(), "accum": x.fp.hls4ml_type()}
            continue
        if op in ("GlobalAveragePool", "AveragePool"):
            x = typed(node, node.input[0])
            shape = m.get_tensor_shape(node.input[0])
            if op == "GlobalAveragePool":
                n = int(np.prod(shape[2:]))
            else:
                if any(_attr(node, "pads", [0, 0, 0, 0])) or int(_attr(node, "ceil_mode", 0)):
                    raise fail(node, "padded / ceil-mode average pooling divides border windows "
                                     "by other counts: not exact in fixed point")
                n = int(np.prod(_attr(node, "kernel_shape")))
            e = n.bit_length() - 1
            if n != 1 << e:
                raise fail(node, f"average over {n} values is a division by a non-power of two, "
                                 "which fixed point cannot represent exactly")
            avg_shift[name] = e
            # the mean of values in [k_min, k_max] on grid frac: sum in [n k_min, n k_max] on frac+e
            res = TensorType.of_range(x.k_min * n, x.k_max * n, x.frac + e)
            tensors[out] = res
            acc = FixedPoint.for_int_range(min(x.k_min * n, 0), max(x.k_max * n, 0), x.frac + e)
            avg_accum[out] = FixedPoint.wide_type(max(acc.bits, 2) + 1, acc.frac, True) \
                if not acc.signed else acc
            prec[name] = {"accum": avg_accum[out].hls4ml_type(),
                          "result": res.fp.hls4ml_type()}
            continue
        if op == "BatchNormalization":
            x = typed(node, node.input[0])
            gamma, beta = (m.get_initializer(n) for n in node.input[1:3])
            try:
                ak, af = dyadic(gamma)
                bk, bf = dyadic(beta)
            except ValueError:
                raise fail(node, "non-finite BatchNorm parameters") from None
            frac = max(x.frac + af, bf)
            s1, s2 = frac - x.frac - af, frac - bf
            los = [min(a * x.k_min, a * x.k_max) * (1 << s1) + b * (1 << s2) for a, b in zip(ak, bk)]
            his = [max(a * x.k_min, a * x.k_max) * (1 << s1) + b * (1 << s2) for a, b in zip(ak, bk)]
            try:
                tensors[out] = TensorType.of_range(min(los), max(his), frac)
                scale_fp = FixedPoint.for_int_range(min(ak), max(ak), af)
                bias_fp = FixedPoint.for_int_range(min(bk), max(bk), bf)
            except Exception as e:
                raise fail(node, f"BatchNorm parameters out of the representable range ({e})") \
                    from None
            bn[name] = (ak, af, bk, bf)
            prec[name] = {"scale": scale_fp.hls4ml_type(), "bias": bias_fp.hls4ml_type(),
                          "result": tensors[out].fp.hls4ml_type()}
            continue
        if op == "Gemm":
            raise fail(node, "Gemm left after clean-up (transposed input?); hls4ml rejects Gemm")
        if op in ("Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice"):
            raise fail(node, "shape computation on a run-time tensor is not supported")
        raise fail(node, "operation not supported")
    if input_quant is None:
        raise UnsupportedModelError("the graph input never reaches a Quant node: a float-only "
                                    "model cannot be converted to ap_fixed")
    if canon.output_name not in tensors:
        raise UnsupportedModelError(f"graph output {canon.output_name} is not a fixed-point tensor")
    if not macs:
        raise UnsupportedModelError("the graph has no Linear/Conv layer")
    quant_outputs = {n.output[0]: quants[n.name] for n in m.graph.node
                     if n.op_type == "Quant" and n.output[0] in tensors}
    return GraphTypes(tensors, quants, quant_outputs, macs, input_quant, prec, bn, avg_shift,
                      avg_accum)
