"""Every zoo model: train briefly -> export -> hls4ml -> g++ -> C simulation == exact reference.

The matrix covers both backends and both io types; ResNet-20 (BatchNorm, residual adds, global
average pooling) and AlexNet use io_stream, whose builds take seconds rather than minutes.
"""

import json
import math

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from qonnx.custom_op.general.quant import quant as qonnx_quant

from hostsw.export import CsimConfig, HlsConfig, run_csim
from hostsw.export.qonnx_export import load_run_model
from hostsw.fixedpoint import FixedPoint
from hostsw.quant.layers import quant_layers

from csim_helpers import tiny_zoo

pytestmark = pytest.mark.csim

MATRIX = [
    # model, backend, io_type, samples
    ("mlp", "Vitis", "io_parallel", 360),
    ("mlp", "Vivado", "io_stream", 360),
    ("mlp-adapt", "Vitis", "io_parallel", 360),
    ("lenet5", "Vitis", "io_stream", 1000),
    ("lenet5", "Vivado", "io_parallel", 200),
    ("alexnet", "Vivado", "io_stream", 100),
    ("resnet20", "Vitis", "io_stream", 60),
]


@pytest.mark.parametrize("model,backend,io_type,samples", MATRIX,
                         ids=[f"{m}-{b}-{i}" for m, b, i, _ in MATRIX])
@pytest.mark.slow
def test_csim_is_bit_exact(runs, model, backend, io_type, samples):
    run = runs(model)
    with tiny_zoo():
        r = run_csim(run_dir=run, cfg=CsimConfig(samples=samples),
                     hls_cfg=HlsConfig(backend=backend, io_type=io_type))
    assert r["samples"] == samples
    assert r["exact_match_rate"] == 1.0 and r["max_abs_diff"] == 0.0
    assert r["argmax_agreement"] == 1.0
    assert r["csim_accuracy"] == r["software_accuracy"]
    assert r["hls_backend"] == backend and r["hls_io_type"] == io_type
    written = json.loads((run / "csim.json").read_text())
    for key in ("samples", "exact_match_rate", "max_abs_diff", "argmax_agreement",
                "csim_accuracy", "software_accuracy", "compile_s", "samples_per_s"):
        assert key in written
    coarser = _assert_exported_biases_are_the_trained_ones(run)
    plan = json.loads((run / "precision_plan.json").read_text())
    if model == "mlp-adapt":  # AdaPT picks the widths (accumulators wider than 32 bits)
        # its fine grids leave no room for a 32-bit bias on the accumulator grid: the case where
        # the bias must move to a coarser grid instead of saturating
        assert coarser, "no bias needed a grid coarser than its accumulator's"
        return
    # non-trivial per-layer precision made it into the project
    weight_bits = {FixedPoint.parse(e["weight"]).bits for e in plan["layers"].values()}
    act_bits = {FixedPoint.parse(e["act"]).bits for e in plan["layers"].values()}
    assert len(weight_bits | act_bits) >= 3 and min(weight_bits | act_bits) < 6


def _pow2_frac(scale) -> int:
    frac = -math.log2(float(scale))
    assert frac == round(frac), f"scale {scale} is not a power of two"
    return int(frac)


def _assert_exported_biases_are_the_trained_ones(run) -> list[str]:
    """The bias each MAC of the exported QONNX graph adds, evaluated with qonnx's own Quant op
    (not hostsw's), equals the TRAINED float bias of the checkpoint rounded to nearest (half to
    even) on the grid the product promises (tensor_quant.bias_fixed_point, hls4ml's Brevitas flow):
    the accumulator grid 2**-(f_act + f_weight), unless B = 32 signed bits cannot hold max |b|
    there; then the finest coarser power of two that can, found here by trying
    f = f_acc, f_acc - 1, ... until (2**(B-1) - 1) * 2**-f >= max |b|. A saturated bias (Brevitas'
    Int32Bias clips to about 2**-13 on AdaPT's grids), a bias on another grid or rounded any
    other way fails. The precision plan's bias type is then the narrowest signed type on that grid holding
    every exported value. Returns the layers whose bias grid is coarser than the accumulator's."""
    graph = onnx.load(str(run / "model.qonnx.onnx")).graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    trained = torch.load(run / "checkpoint.pt", weights_only=False)["model"]
    plan = json.loads((run / "precision_plan.json").read_text())["layers"]
    checked, coarser = [], []
    for node in graph.node:
        if node.op_type not in ("Gemm", "Conv") or len(node.input) < 3 or not node.input[2]:
            continue
        qa, qw, qb = (producer[i] for i in node.input[:3])
        assert qa.op_type == qw.op_type == qb.op_type == "Quant", node.name
        name = qb.input[0].removesuffix(".bias")
        b = trained[qb.input[0]].double().numpy()
        bits = int(init[qb.input[3]])
        f_acc = _pow2_frac(init[qa.input[1]]) + _pow2_frac(init[qw.input[1]])
        f = f_acc
        while (2 ** (bits - 1) - 1) * 2.0 ** -f < np.abs(b).max():
            f -= 1
        assert _pow2_frac(init[qb.input[1]]) == f, (name, f_acc, f)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in qb.attribute}
        exported = qonnx_quant(*(init[i] for i in qb.input[:4]), attrs["signed"],
                               attrs["narrow"], attrs["rounding_mode"].decode())
        expected = np.round(b * 2.0 ** f) * 2.0 ** -f
        assert np.array_equal(exported, expected), (name, np.abs(exported - b).max(), 2.0 ** -f)
        k = (expected * 2.0 ** f).astype(np.int64)
        fp = FixedPoint.parse(plan[name]["bias"])
        narrowest = next(n for n in range(1, 65) if -(2 ** (n - 1)) <= k.min() and
                         k.max() <= 2 ** (n - 1) - 1)
        assert (fp.bits, fp.frac, fp.signed) == (narrowest, f, True), (name, plan[name]["bias"])
        checked.append(name)
        if f < f_acc:
            coarser.append(name)
    with tiny_zoo():
        model_layers = [n for n, layer in quant_layers(load_run_model(run).model).items()
                        if layer.bias is not None]
    assert sorted(checked) == sorted(model_layers)
    return coarser
