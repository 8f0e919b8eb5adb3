"""Every zoo model: train briefly -> export -> hls4ml -> g++ -> C simulation == exact reference.

The matrix covers both backends and both io types; ResNet-20 (BatchNorm, residual adds, global
average pooling) and AlexNet use io_stream, whose builds take seconds rather than minutes.
"""

import json

import pytest

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
    plan = json.loads((run / "precision_plan.json").read_text())
    if model == "mlp-adapt":  # AdaPT picks the widths (accumulators wider than 32 bits)
        _assert_biases_not_clipped(run)
        return
    # non-trivial per-layer precision made it into the project
    weight_bits = {FixedPoint.parse(e["weight"]).bits for e in plan["layers"].values()}
    act_bits = {FixedPoint.parse(e["act"]).bits for e in plan["layers"].values()}
    assert len(weight_bits | act_bits) >= 3 and min(weight_bits | act_bits) < 6


def _assert_biases_not_clipped(run):
    """AdaPT's fine grids make the accumulator grid too fine for a 32-bit bias: the exported bias
    must still be the trained one (within half a step of its grid), not a saturated one."""
    model = load_run_model(run).model
    plan = json.loads((run / "precision_plan.json").read_text())
    for name, layer in quant_layers(model).items():
        fp = FixedPoint.parse(plan["layers"][name]["bias"])
        b = layer.bias.detach().double()
        assert (b.abs().max() <= fp.max), name
        q = (b / fp.step).round() * fp.step
        assert (q - b).abs().max() <= fp.step / 2, name
