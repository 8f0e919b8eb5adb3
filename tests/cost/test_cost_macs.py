"""count_macs against hand-computed MAC counts."""

import pytest
import torch
from torch import nn

from hostsw.cost import LayerMacs, count_macs
from hostsw.errors import ConfigError


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)   # 28x28 -> 28x28, pool -> 14x14
        self.conv2 = nn.Conv2d(6, 16, 5)             # 14x14 -> 10x10, pool -> 5x5
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


def test_lenet_hand_counts():
    macs = count_macs(LeNet(), input_shape=(1, 28, 28))
    assert list(macs) == ["conv1", "conv2", "fc1", "fc2"]  # forward order
    expected_fwd = {
        "conv1": 6 * 1 * 5 * 5 * 28 * 28,    # 117600
        "conv2": 16 * 6 * 5 * 5 * 10 * 10,   # 240000
        "fc1": 400 * 120,                    # 48000
        "fc2": 120 * 10,                     # 1200
    }
    for name, fwd in expected_fwd.items():
        m = macs[name]
        assert m.fwd == fwd and m.bwd_weight == fwd
        assert m.bwd_data == (0 if name == "conv1" else fwd)
        assert m.first == (name == "conv1")
    assert macs["conv1"] == LayerMacs(117600, 0, 117600, "conv", True, 150, 25)
    assert macs["conv2"].params == 2400 and macs["conv2"].fan_in == 150
    assert macs["fc1"].kind == "dense" and macs["fc1"].params == 48000
    assert macs["fc1"].fan_in == 400
    assert sum(m.fwd for m in macs.values()) == 406800
    assert sum(m.total for m in macs.values()) == 3 * 406800 - 117600


def test_grouped_strided_conv():
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2),
                        nn.Conv2d(8, 8, 3, stride=2, groups=8))
    macs = count_macs(net, input_shape=(4, 6, 6))
    assert macs["0"].fwd == 8 * (4 // 2) * 3 * 3 * 6 * 6       # 5184
    assert macs["0"].fan_in == 18 and macs["0"].bwd_data == 0
    assert macs["1"].fwd == 8 * 1 * 3 * 3 * 2 * 2               # (6-3)//2+1 = 2 -> 288
    assert macs["1"].bwd_data == 288 and macs["1"].fan_in == 9


def test_modes_restored_and_no_grad():
    net = LeNet()
    net.train()
    net.drop.eval()
    before = {name: m.training for name, m in net.named_modules()}
    count_macs(net, (1, 28, 28))
    assert {name: m.training for name, m in net.named_modules()} == before
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    count_macs(net, (1, 28, 28))
    assert not any(m.training for m in net.modules())


def test_shared_layer_and_sequence_dense():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(3, 4)
            self.mid = nn.Linear(4, 4)

        def forward(self, x):  # x: (N, T=5, 3)
            return self.mid(self.mid(self.inp(x)))

    macs = count_macs(Shared(), input_shape=(5, 3))
    assert macs["inp"].fwd == 5 * 3 * 4 and macs["inp"].first
    assert macs["mid"].fwd == 2 * 5 * 4 * 4   # called twice: charged twice


def test_brevitas_layers_counted():
    import brevitas.nn as qnn  # a required dependency: missing is a failure, not a skip
    net = nn.Sequential(qnn.QuantConv2d(1, 2, 3), nn.Flatten(), qnn.QuantLinear(2 * 4 * 4, 3))
    macs = count_macs(net, input_shape=(1, 6, 6))
    assert macs["0"].fwd == 2 * 1 * 9 * 16 and macs["0"].kind == "conv"
    assert macs["2"].fwd == 32 * 3 and macs["2"].kind == "dense" and macs["2"].bwd_data == 96
    # layers returning a QuantTensor are read through its .value
    from brevitas.quant import Int8ActPerTensorFloat
    qnet = nn.Sequential(qnn.QuantIdentity(return_quant_tensor=True),
                         qnn.QuantConv2d(1, 2, 3, return_quant_tensor=True,
                                         output_quant=Int8ActPerTensorFloat),
                         qnn.QuantReLU(), nn.Flatten(), qnn.QuantLinear(32, 3))
    qmacs = count_macs(qnet, input_shape=(1, 6, 6))
    assert list(qmacs) == ["1", "4"] and qmacs["1"].fwd == 288 and qmacs["1"].first
    assert qmacs["4"].fwd == 96


def test_bad_input_shape():
    with pytest.raises(ConfigError):
        count_macs(LeNet(), input_shape=(0, 28, 28))
