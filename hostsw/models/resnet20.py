"""ResNet-20 for 32x32 inputs (He et al. 2016, CIFAR variant; option-B 1x1 projection shortcuts).

BatchNorm stays in float during training; the export flow folds it into the conv. ``norm``:
batch (default) or range (SBM's Range BatchNorm, hostsw.models.norm); both fold the same way.
"""

from torch import nn

from hostsw.models.factory import LayerFactory
from hostsw.models.norm import norm2d


class BasicBlock(nn.Module):
    def __init__(self, f: LayerFactory, c_in: int, c_out: int, stride: int, norm: str = "batch"):
        super().__init__()
        self.conv1 = f.conv(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm2d(norm, c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = f.conv(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = norm2d(norm, c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(f.conv(c_in, c_out, 1, stride=stride, bias=False),
                                          norm2d(norm, c_out))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, in_shape=(3, 32, 32), num_classes: int = 10, width: int = 16,
                 blocks_per_stage: int = 3, norm: str = "batch"):
        super().__init__()
        f = LayerFactory()
        self.conv1 = f.conv(in_shape[0], width, 3, padding=1, bias=False)
        self.bn1 = norm2d(norm, width)
        self.relu = nn.ReLU()
        stages, c_in = [], width
        for i, c_out in enumerate((width, 2 * width, 4 * width)):
            for j in range(blocks_per_stage):
                stride = 2 if (i > 0 and j == 0) else 1
                stages.append(BasicBlock(f, c_in, c_out, stride, norm))
                c_in = c_out
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = f.linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(self.flatten(self.pool(x)))
