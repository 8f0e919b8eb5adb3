"""QONNX graph handling: load, canonicalize (one shape every later stage relies on), channels-last.

All edits go through qonnx ``ModelWrapper`` / ``Transformation``. The *canonical* graph is NCHW,
cleaned (constants folded, unique names), Gemm lowered to MatMul + Add, every constant feeding a
Quant node replaced by its exactly quantized value (so any later consumer -- hls4ml's text weight
files included -- reads values already on their grid, and no tie is ever re-rounded), and every
BatchNormalization rewritten to y = x * alpha + beta with float32 alpha/beta (eps 0, mean 0, var 1:
the same function, but with the per-channel affine spelled out exactly).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from hostsw.errors import ConfigError, UnsupportedModelError

#: the ONNX IR version written and handed on (onnx 1.23 stamps 14; onnxruntime 1.31 takes <= 13)
IR_VERSION = 10
MAC_OPS = ("MatMul", "Conv")
LAYOUT_OPS = ("Flatten", "Reshape", "Transpose", "Identity")


@contextlib.contextmanager
def quiet():
    """Silence the chatty print()s of hls4ml/qonnx (their warnings still reach stderr)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def load_qonnx(path: str | Path) -> ModelWrapper:
    """Read an ONNX file, with a one-line error for a missing, corrupt or non-ONNX file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"ONNX file {path} not found")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError, truncated file, ...
        raise UnsupportedModelError(f"{path} is not a readable ONNX model ({type(e).__name__}): "
                                    "export one with `hostsw export RUN_DIR`") from None
    if not model.graph.node:
        raise UnsupportedModelError(f"{path} is not an ONNX model with a graph (no nodes)")
    inits = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"{path}: exactly one graph input is supported "
                                    f"(found {len(inputs)})")
    if len(model.graph.output) != 1:
        raise UnsupportedModelError(f"{path}: exactly one graph output is supported "
                                    f"(found {len(model.graph.output)})")
    model.ir_version = min(model.ir_version or IR_VERSION, IR_VERSION)
    return ModelWrapper(model)


def cleanup(model: ModelWrapper) -> ModelWrapper:
    from qonnx.util.cleanup import cleanup_model
    with quiet():
        return cleanup_model(model)


# --- transformations -----------------------------------------------------------------------------
def quant_params(model: ModelWrapper, node) -> tuple[float, float, float]:
    """(scale, zero point, bit width) of a Quant node whose parameters are constants."""
    vals = []
    for name, what in zip(node.input[1:4], ("scale", "zero point", "bit width")):
        v = model.get_initializer(name)
        if v is None:
            raise UnsupportedModelError(f"node {node.name} (Quant): the {what} is computed at run "
                                        "time; only constant quantizer parameters are supported")
        v = np.asarray(v, dtype=np.float64)
        if v.size != 1 and not np.all(v == v.flat[0]):
            raise UnsupportedModelError(
                f"node {node.name} (Quant): per-channel {what} ({v.size} values); only per-tensor "
                "power-of-two scales are supported")
        vals.append(float(v.flat[0]))
    return tuple(vals)


def quant_attrs(node) -> dict:
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    mode = a.get("rounding_mode", b"ROUND")
    return {"signed": bool(a.get("signed", 1)), "narrow": bool(a.get("narrow", 0)),
            "rounding_mode": mode.decode() if isinstance(mode, bytes) else str(mode)}


def pow2_frac(scale: float) -> int | None:
    """frac with scale == 2**-frac, or None if the scale is not a positive power of two."""
    if not (scale > 0 and math.isfinite(scale)):
        return None
    m, e = math.frexp(scale)
    return None if m != 0.5 else 1 - e


def exact_quant_int(x: np.ndarray, frac: int, bits: int, signed: bool, narrow: bool,
                    rounding: str) -> np.ndarray:
    """QONNX Quant on float values, as exact integers k (value = k * 2**-frac), int64.

    (``hostsw.fixedpoint.quantize_scaled_exact``: ROUND is half-to-even = AP_RND_CONV.)
    """
    from hostsw.fixedpoint import quantize_scaled_exact
    return quantize_scaled_exact(x, frac, bits, signed, narrow, rounding)


class QuantizeConstants(Transformation):
    """Replace every constant input of a Quant node by its exactly quantized value (idempotent)."""

    def apply(self, model):
        for node in model.graph.node:
            if node.op_type != "Quant":
                continue
            w = model.get_initializer(node.input[0])
            if w is None:
                continue
            scale, zp, bits = quant_params(model, node)
            frac = pow2_frac(scale)
            if frac is None or zp != 0 or bits != int(bits) or bits < 1:
                continue  # the validator names the problem
            a = quant_attrs(node)
            k = exact_quant_int(w, frac, int(bits), a["signed"], a["narrow"], a["rounding_mode"])
            q32 = np.ldexp(k.astype(np.float64), -frac).astype(np.float32)
            # float32 holds every quantized value exactly except a saturated wide one (e.g. a
            # 32-bit bias at its maximum 2**31 - 1); that one rounds up and saturates back to the
            # same integer: what matters is that the quantizer maps the stored value to k
            again = exact_quant_int(q32, frac, int(bits), a["signed"], a["narrow"],
                                    a["rounding_mode"])
            if not np.array_equal(again, k):
                raise UnsupportedModelError(
                    f"node {node.name} (Quant): a quantized constant cannot be stored in float32 "
                    "so that it quantizes back to the same value")
            model.set_initializer(node.input[0], q32.reshape(np.shape(w)))
        return model, False


def bias_quant_nodes(model: ModelWrapper) -> list:
    """Quant nodes quantizing a MAC bias: a Conv's third input, or the constant added to a MatMul."""
    out = []
    for node in model.graph.node:
        srcs = []
        if node.op_type == "Conv" and len(node.input) > 2 and node.input[2]:
            srcs = [node.input[2]]
        elif node.op_type == "Add":
            prods = [model.find_producer(i) for i in node.input]
            if any(p is not None and p.op_type == "MatMul" for p in prods):
                srcs = list(node.input)
        for s in srcs:
            q = model.find_producer(s)
            if q is not None and q.op_type == "Quant" and model.get_initializer(q.input[0]) is not None:
                out.append(q)
    return out


class MoveQuantAboveFlatten(Transformation):
    """Flatten/Reshape -> Quant (per-tensor, elementwise) becomes Quant -> Flatten/Reshape.

    The same function; but hls4ml's io_stream turns a Flatten into a stream alias, and an
    activation (the quantizer) right after it reads the packed stream with the flattened
    packing -- out of bounds, wrong results. Before the Flatten the quantizer is an ordinary
    per-pixel activation.
    """

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type != "Quant" or model.get_initializer(q.input[0]) is not None:
                continue
            fl = model.find_producer(q.input[0])
            if fl is None or fl.op_type not in ("Flatten", "Reshape") or \
                    len(model.find_consumers(fl.output[0])) != 1:
                continue
            if model.find_producer(fl.input[0]) is None:
                continue  # the graph input: Flatten first is fine (hls4ml removes it)
            a, b, c = fl.input[0], fl.output[0], q.output[0]
            q.input[0], q.output[0] = a, b
            fl.input[0], fl.output[0] = b, c
            nodes = list(model.graph.node)
            nodes.remove(q)
            nodes.insert(nodes.index(fl), q)
            del model.graph.node[:]
            model.graph.node.extend(nodes)
            for vi in list(model.graph.value_info):
                if vi.name == b:
                    model.graph.value_info.remove(vi)
            return model, True
        return model, False


class TightenBiasQuant(Transformation):
    """Give each (already exactly quantized) bias the narrowest signed bit width that holds its
    values: the bias quantizer is 32 bits wide, which would make every
    accumulator 33 bits wide although the trained biases need far fewer. Values are unchanged."""

    def apply(self, model):
        for q in bias_quant_nodes(model):
            scale, zp, bits = quant_params(model, q)
            frac = pow2_frac(scale)
            if frac is None or zp != 0 or not quant_attrs(q)["signed"]:
                continue
            v = np.asarray(model.get_initializer(q.input[0]), dtype=np.float64)
            k = np.ldexp(v, frac)
            k_min, k_max = int(min(k.min(), -1)), int(max(k.max(), 0))
            need = max((-k_min - 1).bit_length(), k_max.bit_length()) + 1
            if 2 <= need < bits:
                model.set_initializer(q.input[3], np.asarray(float(need), dtype=np.float32))
        return model, False


def bn_alpha_beta(model: ModelWrapper, node) -> tuple[np.ndarray, np.ndarray]:
    """float32 per-channel scale and shift of an inference BatchNormalization, computed like
    PyTorch's CPU kernel (alpha = gamma / sqrt(var + eps), beta = bias - mean * alpha)."""
    params = [model.get_initializer(n) for n in node.input[1:5]]
    if any(p is None for p in params):
        raise UnsupportedModelError(f"node {node.name} (BatchNormalization): parameters must be "
                                    "constants (inference mode)")
    gamma, bias, mean, var = (np.asarray(p, dtype=np.float32) for p in params)
    eps = np.float32(next((helper.get_attribute_value(a) for a in node.attribute
                           if a.name == "epsilon"), 1e-5))
    invstd = np.float32(1.0) / np.sqrt(var + eps)
    alpha = (invstd * gamma).astype(np.float32)
    beta = (bias - mean * alpha).astype(np.float32)
    return alpha, beta


class CanonicalBatchNorm(Transformation):
    """BatchNormalization -> the same node with gamma=alpha, beta=beta', mean=0, var=1, eps=0."""

    def apply(self, model):
        for node in model.graph.node:
            if node.op_type != "BatchNormalization":
                continue
            alpha, beta = bn_alpha_beta(model, node)
            model.set_initializer(node.input[1], alpha)
            model.set_initializer(node.input[2], beta)
            model.set_initializer(node.input[3], np.zeros_like(alpha))
            model.set_initializer(node.input[4], np.ones_like(alpha))
            for a in node.attribute:
                if a.name == "epsilon":
                    a.f = 0.0
            if not any(a.name == "epsilon" for a in node.attribute):
                node.attribute.append(helper.make_attribute("epsilon", 0.0))
        return model, False


class AbsorbTransposeIntoFlattenMatMul(Transformation):
    """Transpose(NHWC->NCHW) -> Flatten -> [Quant] -> MatMul(W) becomes Flatten -> [Quant] ->
    MatMul(W') with W's rows permuted to the NHWC flatten order.

    ConvertToChannelsLast leaves that Transpose so that Flatten keeps PyTorch's NCHW order; hls4ml's
    io_stream Transpose then leaves data in its stream. Quant is elementwise with a per-tensor
    scale, so it commutes with the permutation.
    """

    def apply(self, model):
        for tr in list(model.graph.node):
            if tr.op_type != "Transpose":
                continue
            perm = next((list(helper.get_attribute_value(a)) for a in tr.attribute
                         if a.name == "perm"), None)
            if perm != [0, 3, 1, 2]:
                continue
            fl = model.find_consumers(tr.output[0])
            if len(fl) != 1 or fl[0].op_type != "Flatten":
                continue
            fl = fl[0]
            chain, t = [], fl.output[0]
            consumers = model.find_consumers(t)
            while len(consumers) == 1 and consumers[0].op_type == "Quant" and \
                    all(model.get_initializer(n) is not None for n in consumers[0].input[1:]):
                chain.append(consumers[0])
                t = consumers[0].output[0]
                consumers = model.find_consumers(t)
            if len(consumers) != 1 or consumers[0].op_type != "MatMul" or \
                    consumers[0].input[0] != t:
                continue
            mm = consumers[0]
            w_name, w_node = mm.input[1], model.find_producer(mm.input[1])
            if w_node is not None and w_node.op_type == "Quant":
                w_name = w_node.input[0]
            w = model.get_initializer(w_name)
            if w is None:
                continue
            n, h, wd, c = model.get_tensor_shape(tr.input[0])
            # row r of W belongs to NCHW flat index r = ((c*H)+h)*W+w; NHWC flat index is
            # ((h*W)+w)*C+c: W'[nhwc index] = W[nchw index]
            idx = np.arange(c * h * wd).reshape(c, h, wd).transpose(1, 2, 0).reshape(-1)
            model.set_initializer(w_name, np.asarray(w)[idx])
            fl.input[0] = tr.input[0]
            model.graph.node.remove(tr)
            return model, True
        return model, False


# --- canonical form ------------------------------------------------------------------------------
@dataclass
class Canonical:
    """The canonical NCHW graph and the names of its MAC layers."""

    model: ModelWrapper
    #: canonical MAC node name -> layer name (training module name when known, else node name)
    layer_names: dict[str, str]

    @property
    def input_name(self) -> str:
        return self.model.graph.input[0].name

    @property
    def output_name(self) -> str:
        return self.model.graph.output[0].name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.get_tensor_shape(self.input_name))

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.model.get_tensor_shape(self.output_name))


_LAYER_TAG = "hostsw.layer="


def _weight_quant(model: ModelWrapper, node):
    prod = model.find_producer(node.input[1])
    return prod if prod is not None and prod.op_type == "Quant" else None


def tag_layers(model: ModelWrapper) -> None:
    """Mark each MAC's weight Quant node with the layer name (the PyTorch parameter name of a
    Brevitas export, "features.0.weight" -> "features.0"); clean-up keeps Quant nodes and their
    doc strings while it renames everything."""
    for node in model.graph.node:
        if node.op_type in ("Gemm", "MatMul", "Conv"):
            q = _weight_quant(model, node)
            if q is None or model.get_initializer(q.input[0]) is None:
                continue
            w = q.input[0]
            if w.startswith(("onnx::", "/")) or not w.endswith(".weight"):
                continue
            q.doc_string = _LAYER_TAG + w[:-len(".weight")]


def layer_names(model: ModelWrapper) -> dict[str, str]:
    names = {}
    for node in model.graph.node:
        if node.op_type in MAC_OPS:
            q = _weight_quant(model, node)
            tag = q.doc_string if q is not None else ""
            names[node.name] = tag[len(_LAYER_TAG):] if tag.startswith(_LAYER_TAG) else node.name
    if len(set(names.values())) != len(names):  # never let two layers share a name
        names = {n: n for n in names}
    return names


def canonicalize(model: ModelWrapper) -> Canonical:
    """The canonical graph (see module doc). Raises UnsupportedModelError on graphs qonnx cannot
    clean; the validator gives node-level reasons for everything else."""
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    model = ModelWrapper(onnx.ModelProto.FromString(model.model.SerializeToString()))
    tag_layers(model)
    try:
        m = cleanup(model)
        with warnings.catch_warnings():
            # "only offers explicit support for version 9 of the Gemm node": the attributes it
            # handles (alpha, beta, transA/B) mean the same in opset 13; the exact reference and
            # qonnx execution of the raw export check the result
            warnings.filterwarnings("ignore", message="The GemmToMatMul transformation")
            m = m.transform(GemmToMatMul())
        m = cleanup(m)
    except UnsupportedModelError:
        raise
    except Exception as e:
        raise UnsupportedModelError(f"qonnx could not clean up the graph ({type(e).__name__}: "
                                    f"{str(e).splitlines()[0] if str(e) else ''})") from None
    m = m.transform(QuantizeConstants())
    m = m.transform(MoveQuantAboveFlatten())
    m = m.transform(TightenBiasQuant())
    m = m.transform(CanonicalBatchNorm())
    m = cleanup(m)
    m.model.ir_version = IR_VERSION
    return Canonical(m, layer_names(m))


class AvgPoolToDepthwiseConv(Transformation):
    """GlobalAveragePool / AveragePool over 2**e values -> a depthwise Conv whose weights are all
    2**-e (a 1-bit quantized constant): the same exact function, in a form that qonnx converts to
    channels-last (it leaves average pools in NCHW behind a Transpose, which hls4ml then reads as
    channels-last -- wrong values, or a division by zero in io_stream)."""

    def __init__(self, shifts: dict[str, int]):
        super().__init__()
        self.shifts = shifts

    def apply(self, model):
        for i, node in enumerate(model.graph.node):
            if node.op_type not in ("GlobalAveragePool", "AveragePool"):
                continue
            n, c, h, w = model.get_tensor_shape(node.input[0])
            if node.op_type == "GlobalAveragePool":
                kernel, strides = [h, w], [1, 1]
            else:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                kernel, strides = list(attrs["kernel_shape"]), list(attrs.get("strides", [1, 1]))
            e = self.shifts[node.name]
            wname, qname = node.name + "_weight", node.name + "_weight_quant"
            model.set_initializer(wname, np.full((c, 1, *kernel), 2.0 ** -e, dtype=np.float32))
            params = []
            for suffix, value in (("scale", 2.0 ** -e), ("zeropt", 0.0), ("bitwidth", 1.0)):
                params.append(f"{qname}_{suffix}")
                model.set_initializer(params[-1], np.asarray(value, dtype=np.float32))
            quant = helper.make_node("Quant", [wname] + params, [qname + "_out"], name=qname,
                                     domain="qonnx.custom_op.general", signed=0, narrow=0,
                                     rounding_mode="ROUND")
            conv = helper.make_node("Conv", [node.input[0], qname + "_out"], list(node.output),
                                    name=node.name, group=c, kernel_shape=kernel,
                                    strides=strides, pads=[0, 0, 0, 0], dilations=[1, 1])
            model.graph.node.remove(node)
            model.graph.node.insert(i, conv)
            model.graph.node.insert(i, quant)
            return model, True
        return model, False


def _rename_like(model: ModelWrapper, reference: list) -> None:
    """Give the compute nodes (and their outputs) of ``model`` the names of ``reference``'s, in
    order; clean-up renames everything by op type and position, the hls4ml configuration is keyed
    by the canonical names."""
    nodes = [n for n in model.graph.node if n.op_type not in LAYOUT_OPS]
    got = [n.op_type for n in nodes]
    want = [op for _, op, _ in reference]
    if got != want:
        raise UnsupportedModelError(f"channels-last conversion changed the compute nodes "
                                    f"({want[:6]}... -> {got[:6]}...)")
    tensor_map = {}
    for node, (name, _, outputs) in zip(nodes, reference):
        node.name = name
        for old, new in zip(node.output, outputs):
            if old != new:
                tensor_map[old] = new
    if not tensor_map:
        return
    for node in model.graph.node:
        for i, t in enumerate(node.input):
            node.input[i] = tensor_map.get(t, t)
        for i, t in enumerate(node.output):
            node.output[i] = tensor_map.get(t, t)
    for vi in list(model.graph.value_info) + list(model.graph.output):
        vi.name = tensor_map.get(vi.name, vi.name)


def needs_channels_last(model: ModelWrapper) -> bool:
    """Whether the hls4ml graph is channels-last (then its input is NHWC): any 4-D activation."""
    return any(n.op_type == "Conv" or len(model.get_tensor_shape(n.output[0]) or []) == 4
               for n in model.graph.node)


def channels_last(canon: Canonical, avg_shifts: dict[str, int] | None = None) -> ModelWrapper:
    """The graph hls4ml converts: NHWC (input included) for conv nets, no NCHW flatten Transpose,
    average pools as depthwise convolutions. Compute nodes keep their canonical names (checked)."""
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    m = ModelWrapper(onnx.ModelProto.FromString(canon.model.model.SerializeToString()))
    if avg_shifts:
        from qonnx.transformation.infer_shapes import InferShapes
        m = m.transform(AvgPoolToDepthwiseConv(avg_shifts))
        m = m.transform(InferShapes())
    if not needs_channels_last(m):
        return m
    reference = [(n.name, n.op_type, list(n.output)) for n in m.graph.node
                 if n.op_type not in LAYOUT_OPS]
    with quiet():
        m = m.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
    m = m.transform(AbsorbTransposeIntoFlattenMatMul())
    m = cleanup(m)
    _rename_like(m, reference)
    m.model.ir_version = IR_VERSION
    return m


def to_channels_last(x: np.ndarray, convert: bool = True) -> np.ndarray:
    """NCHW -> NHWC (what the hls4ml project of a conv net reads); other ranks unchanged."""
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)) if convert and x.ndim == 4 else x


@contextlib.contextmanager
def ort_compatible_ir():
    """qonnx execution builds one-node models with onnx's newest IR version (14 with onnx 1.23),
    which onnxruntime 1.31 rejects (shared/specs/toolchain.md): stamp IR_VERSION on them instead."""
    import qonnx.core.onnx_exec as onnx_exec
    original = onnx_exec.qonnx_make_model

    def make_model(graph, **kwargs):
        model = original(graph, **kwargs)
        model.ir_version = min(model.ir_version, IR_VERSION)
        return model

    onnx_exec.qonnx_make_model = make_model
    try:
        yield
    finally:
        onnx_exec.qonnx_make_model = original


def qonnx_execute(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """qonnx execution of a batch-1 graph, one sample at a time (float32, as onnxruntime runs)."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    model = model.transform(InferShapes())
    inp, out = model.graph.input[0].name, model.graph.output[0].name
    ys = []
    with ort_compatible_ir():
        for xi in np.asarray(x, dtype=np.float32):
            ys.append(execute_onnx(model, {inp: xi[None]})[out][0])
    return np.stack(ys) if ys else np.zeros((0,))
