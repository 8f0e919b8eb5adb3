"""Quantized layers: runtime <bits, frac> in place, Brevitas path == fast path, gradients."""

import pytest
import torch
from torch import nn

from hostsw.fixedpoint import FixedPoint, frac_for_range, quantize
from hostsw.quant.layers import FxpConv2d, FxpLinear, quant_layers
from hostsw.quant.precision import Precision
from hostsw.quant.tensor_quant import bias_fixed_point


def _image_batch(n=4, c=1, h=12, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g).float() / 256


@pytest.mark.parametrize("wbits,abits,afrac,signed", [
    (8, 8, 8, False), (6, 5, None, False), (3, 4, 2, False), (8, 8, None, True), (2, 16, None, False)])
def test_fast_forward_equals_brevitas_path(wbits, abits, afrac, signed):
    torch.manual_seed(0)
    conv = FxpConv2d(1, 4, 3, padding=1, weight_bits=wbits, act_bits=abits, act_signed=signed)
    lin = FxpLinear(4 * 12 * 12, 5, weight_bits=wbits, act_bits=abits, act_signed=signed)
    conv.set_precision("act", Precision(abits, afrac))
    x = _image_batch()
    if signed:
        x = x - 0.5
    for m in (conv, lin):
        m.train()
        m(x if m is conv else x.new_zeros(2, 4 * 12 * 12) + 0.1)  # one training step sets frac
        m.eval()
    y_fast = conv(x)
    y_brev = conv.brevitas_forward(x)
    assert torch.equal(y_fast, y_brev)
    z = torch.relu(y_fast).flatten(1)
    assert torch.equal(lin(z), lin.brevitas_forward(z))


def test_set_precision_in_place_and_in_state_dict():
    m = FxpLinear(16, 8, weight_bits=8)
    buf = m.quantizer("weight").bit_width_impl.bit_width
    ptr = buf.data_ptr()
    m.set_precision("weight", Precision(5, 4))
    assert buf.data_ptr() == ptr and buf.item() == 5
    assert m.precision("weight") == Precision(5, 4)
    sd = m.state_dict()
    fresh = FxpLinear(16, 8, weight_bits=8)
    fresh.load_state_dict(sd)
    assert fresh.precision("weight") == Precision(5, 4)
    assert fresh.quantizer("weight").fixed_point().as_list() == [5, 4]


def test_weight_levels_follow_bits():
    """8 -> 6 -> 3 -> 6 bits: distinct quantized weight values shrink and grow back."""
    torch.manual_seed(1)
    m = FxpLinear(256, 64, weight_bits=8)
    levels = []
    for bits in (8, 6, 3, 6):
        m.set_precision("weight", Precision(bits))
        w = m.quantized_weight()
        fp = m.quantizer("weight").fixed_point()
        k = w * 2.0 ** fp.frac
        assert torch.equal(k, torch.round(k))  # on the grid
        assert k.abs().max() <= 2 ** (bits - 1) - 1  # narrow range: symmetric
        levels.append(len(torch.unique(w)))
    assert levels[0] > levels[1] > levels[2] and levels[3] == levels[1]
    assert levels[2] <= 7


def test_fixed_frac_saturates_symmetrically():
    m = FxpLinear(4, 1, bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[1.0, -1.0, 0.3, -0.26]]))
    m.set_precision("weight", Precision(4, 3))  # step 1/8, narrow range +-7/8
    assert m.quantized_weight().tolist() == [[0.875, -0.875, 0.25, -0.25]]


def test_float_layer_matches_plain_torch():
    torch.manual_seed(2)
    q = FxpConv2d(1, 3, 3)
    ref = nn.Conv2d(1, 3, 3)
    ref.load_state_dict({"weight": q.weight.detach().clone(), "bias": q.bias.detach().clone()})
    for kind in ("weight", "act", "grad"):
        q.set_precision(kind, Precision(None))
    x = _image_batch(2, 1, 8, 8).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    q(x).square().sum().backward()
    ref(x2).square().sum().backward()
    assert torch.equal(x.grad, x2.grad) and torch.equal(q.weight.grad, ref.weight.grad)


def test_master_weights_get_straight_through_gradients():
    m = FxpLinear(8, 4, weight_bits=3)
    x = torch.rand(5, 8)
    m(x).sum().backward()
    assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0


def test_error_is_quantized_on_the_way_back():
    """The gradient reaching the layer's MACs is the output error quantized stochastically."""
    torch.manual_seed(3)
    m = FxpLinear(6, 5, bias=False, weight_bits=8, act_bits=8, grad_bits=4)
    m.set_seed(11)
    x = torch.rand(3, 6)
    g = torch.randn(3, 5) * 1e-3
    m.train()
    m(x).backward(g)
    gq = m.quantizer("grad")
    fp = gq.fixed_point()
    expected = quantize(g, 4, fp.frac, True, "stochastic", "saturate", 11, gq.tensor_id, 0)
    wq = m.quantized_weight()
    xq = quantize(x, 8, m.quantizer("act").fixed_point().frac, False)
    assert torch.allclose(m.weight.grad, expected.t() @ xq, rtol=0, atol=1e-12)
    assert len(torch.unique(expected)) <= 16
    assert gq.calls.item() == 1  # dither counter advanced: next step draws new dither
    assert wq.shape == m.weight.shape


def test_activation_gradient_is_clipped_outside_range():
    m = FxpLinear(2, 1, bias=False)
    m.set_precision("act", Precision(4, 3))  # unsigned, max 15/8
    x = torch.tensor([[0.5, 3.0]], requires_grad=True)
    m.train()
    m(x).sum().backward()
    assert x.grad[0, 0] != 0 and x.grad[0, 1] == 0


@pytest.mark.parametrize("data_input", [False, True])
def test_operand_gradients_are_hand_built_straight_through(data_input):
    """The layer quantizes input, weight and bias in one autograd node: the gradients it gives are
    those of plain torch ops on the quantized operands, the input's zeroed where the input
    saturated (grid <4, 3> unsigned: inside is [-1/16, 15/8 + 1/16]); for a data input (no
    gradient) none is computed for it."""
    torch.manual_seed(5)
    m = FxpConv2d(1, 2, 3, padding=1, weight_bits=5, act_bits=4, act_signed=False)
    m.set_precision("act", Precision(4, 3))
    m.set_precision("weight", Precision(5, 3))  # step 1/8, narrow range: +-15/8
    m.set_precision("grad", Precision(None))  # no dither: the error reaches the MACs as is
    with torch.no_grad():
        m.weight.mul_(8)  # some weights beyond +-15/8: they saturate, their gradient passes
        m.bias.copy_(torch.tensor([0.3, -2.2]))
    x = torch.tensor([[0.5, 3.0, -0.05, 1.9], [1.94, -0.07, 0.26, 2.0],
                      [0.0, 1.0, 1.2, 0.7], [0.1, 0.2, 5.0, -1.0]]).reshape(1, 1, 4, 4)
    inside = torch.tensor([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]],
                          dtype=torch.float32).reshape(1, 1, 4, 4)
    g = torch.randn(1, 2, 4, 4)
    m.train()
    x_in = x.clone().requires_grad_(not data_input)
    m(x_in).backward(g)
    # by hand: the operands on their grids as leaves, the plain conv, its gradients
    xq = quantize(x, 4, 3, False).requires_grad_()
    wq = quantize(m.weight.detach(), 5, 3, True, overflow="saturate_sym").requires_grad_()
    bq = quantize(m.bias.detach(), 32, 6, True).requires_grad_()  # accumulator grid: 3 + 3
    assert m.weight.detach().abs().max() > 15 / 8
    assert torch.equal(bq.detach(), torch.tensor([0.296875, -2.203125]))
    torch.nn.functional.conv2d(xq, wq, bq, padding=1).backward(g)
    assert torch.equal(m.weight.grad, wq.grad) and torch.equal(m.bias.grad, bq.grad)
    if data_input:
        assert x_in.grad is None
    else:
        assert torch.equal(x_in.grad, xq.grad * inside) and (x_in.grad != xq.grad).any()


def test_quant_layers_lists_in_order():
    net = nn.Sequential(FxpLinear(4, 4), nn.ReLU(), FxpLinear(4, 2))
    assert list(quant_layers(net)) == ["0", "2"]


def test_precision_parse_forms_and_errors():
    from hostsw.errors import ConfigError
    assert Precision.parse(8) == Precision(8, None)
    assert Precision.parse([8, 4]) == Precision(8, 4)
    assert Precision.parse([6, "auto"]) == Precision(6, None)
    assert Precision.parse("fp32").is_float
    assert Precision.parse({"bits": 5, "frac": 3}) == Precision(5, 3)
    for bad in (0, 33, [2.5, 1], "eight", [8, 1.5], True):
        with pytest.raises(ConfigError) as e:
            Precision.parse(bad)
        assert "\n" not in str(e.value)


def test_rounding_and_seed_survive_load_state_dict():
    """Brevitas re-creates tensor_quant on load; the layer re-applies its settings."""
    m = FxpLinear(8, 4)
    m.set_rounding("weight", "stochastic")
    m.set_seed(42)
    m.load_state_dict(m.state_dict())
    q = m.quantizer("weight")
    assert q.rounding == "stochastic" and q.seed == 42
    assert m.quantizer("act").seed == 42 and m.quantizer("grad").seed == 42


def test_bias_on_the_accumulator_grid_unless_it_would_clip():
    """Static 8-bit grids: the bias sits on the accumulator grid (the add is exact). AdaPT-style
    fine grids (frac sum 44, where 32 bits reach only 2**-13): the bias moves to a coarser power
    of two instead of saturating, and both forward paths agree."""
    b = torch.tensor([0.3, -0.12, 0.004])
    assert bias_fixed_point(b, 14) == FixedPoint(32, 14)
    fine = bias_fixed_point(b, 44)
    assert fine.frac == frac_for_range(0.3, 32) < 44
    torch.manual_seed(0)
    lin = FxpLinear(16, 3, weight_bits=16, act_bits=16)
    lin.set_precision("weight", Precision(16, 24))
    lin.set_precision("act", Precision(16, 20))
    with torch.no_grad():
        lin.bias.copy_(b)
    lin.eval()
    x = torch.rand(4, 16) * 0.01
    _, _, bq = lin._quant_operands(x)
    assert torch.allclose(bq, b, rtol=0, atol=2.0 ** -fine.frac)
    assert torch.equal(lin(x), lin.brevitas_forward(x))


def test_eval_grid_keeps_its_range_when_bits_change():
    """An activation's dynamic frac is frozen in eval at the last training step's; a controller
    changing bits after that step (AdaPT at the last step of an epoch) must not shrink the range:
    16 -> 14 bits kept the frac once and clipped every activation above 10 to 10 at test time."""
    from hostsw.quant.tensor_quant import ActTensorQuant
    x = torch.linspace(0, 40, 101)
    q = ActTensorQuant(16, None, signed=False)
    q.train()
    q.quantize(x)
    q.eval()
    for bits in (14, 20, 8):
        q.set_precision(Precision(bits))
        assert q.fixed_point() == FixedPoint(bits, frac_for_range(40.0, bits, False), False)
        y = q.quantize(x)
        assert (y - x).abs().max() <= q.fixed_point().step / 2


def test_brevitas_export_traces_quant_nodes(tmp_path):
    """Brevitas' QONNX manager puts only the proxies in export mode; the layer must then leave
    its fast path, or the export is plain float arithmetic without Quant nodes."""
    import onnx
    from brevitas.export import export_qonnx
    model = nn.Sequential(FxpLinear(8, 4, bias=False, weight_bits=5, act_bits=6))
    model.train()
    model(torch.rand(2, 8))
    model.eval()
    export_qonnx(model, torch.rand(1, 8), export_path=str(tmp_path / "m.onnx"), dynamo=False)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert ops.count("Quant") == 2 and "MatMul" in ops
