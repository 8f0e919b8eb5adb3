"""LeNet-5 (the AdaPT paper's MNIST / Fashion-MNIST model): 2 conv + 3 dense layers.

``norm`` batch | range adds a BatchNorm / Range BatchNorm after each conv (the BN-bearing variant
the Range BN benchmark trains on MNIST-like data); none (the default) is the classic network.
"""

from torch import nn

from hostsw.models.factory import LayerFactory
from hostsw.models.norm import norm2d


class LeNet5(nn.Module):
    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10, norm: str = "none"):
        super().__init__()
        f = LayerFactory()
        c, h, w = in_shape
        pad = 2 if h == 28 else 0  # classic LeNet-5 takes 32x32; pad MNIST's 28x28
        self.conv1 = f.conv(c, 6, 5, padding=pad)
        self.bn1 = norm2d(norm, 6)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = f.conv(6, 16, 5)
        self.bn2 = norm2d(norm, 16)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        side = ((h + 2 * pad - 4) // 2 - 4) // 2
        self.fc1 = f.linear(16 * side * side, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = f.linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = f.linear(84, num_classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)
