"""Gradient bifurcation (SBM): the error entering backward-weight has its own precision, on the
software path and on the MAC engines alike; BitOPs charge it. Expected values derived by hand."""

from __future__ import annotations

import pytest
import torch

from hostsw.cost.bitops import layer_bitops
from hostsw.cost.macs import LayerMacs
from hostsw.quant.layers import FxpLinear
from hostsw.quant.precision import Precision


def _layer(backend=None):
    m = FxpLinear(2, 1, bias=True, tensor_id=0)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[0.75, -0.5]]))
        m.bias.zero_()
    m.set_precision("act", Precision(8, 4))
    m.set_precision("weight", Precision(8, 4))
    m.set_precision("grad", Precision(4, 3))
    m.set_precision("grad_w", Precision(8, 6))
    m.set_rounding("grad", "nearest")
    m.mac_backend = backend
    return m.train()


@pytest.mark.parametrize("engine", [False, True], ids=["software", "reference-engine"])
def test_bwd_data_and_bwd_weight_see_their_own_error(engine):
    from hostsw.runtime.reference import ReferenceBackend
    m = _layer(ReferenceBackend() if engine else None)
    assert m.bifurcated
    x = torch.tensor([[0.5, 0.25]], requires_grad=True)
    y = m(x)
    assert y.item() == 0.5 * 0.75 - 0.25 * 0.5
    y.backward(torch.tensor([[0.3]]))
    # bwd-data error on <4, 3>: 0.3 * 8 = 2.4 -> 2 -> 0.25; dx = 0.25 * [0.75, -0.5]
    assert x.grad.tolist() == [[0.1875, -0.125]]
    # bwd-weight error on <8, 6>: 0.3 * 64 = 19.2 -> 19 -> 0.296875; dw = 0.296875 * [0.5, 0.25]
    assert m.weight.grad.tolist() == [[0.1484375, 0.07421875]]
    assert m.bias.grad.tolist() == [0.296875]


def test_not_bifurcated_by_default_uses_one_error():
    m = _layer()
    m.grad_w_quant.tensor_quant.enabled.fill_(False)
    x = torch.tensor([[0.5, 0.25]], requires_grad=True)
    m(x).backward(torch.tensor([[0.3]]))
    assert m.weight.grad.tolist() == [[0.125, 0.0625]]  # 0.25 * [0.5, 0.25]


def test_bitops_charge_the_bwd_weight_error():
    macs = LayerMacs(fwd=100, bwd_data=100, bwd_weight=100, kind="dense", first=False, params=10,
                     fan_in=10)
    # a=8, w=8, e=8, e_w=16: 100*64 + 100*64 + 100*(8*16) = 25600
    assert layer_bitops(macs, (8, 8, 8, 16)) == 25600
    assert layer_bitops(macs, (8, 8, 8)) == 19200
    # 4/8 errors: 100*64 + 100*(4*8) + 100*(8*8) = 16000
    assert layer_bitops(macs, (8, 8, 4, 8)) == 16000
