"""Wide ResNet (Zagoruyko & Komodakis 2016) as the FixMatch family trains it: pre-activation blocks,
leaky ReLU (0.1), BatchNorm momentum 0.001 (TensorFlow's decay 0.999), and the first group's
activation before the residual; WRN-28-2 has 1.47M parameters and 128-d features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.models.resnet_cifar import NormedLinear


class WideBlock(nn.Module):
    """Pre-activation basic block. When the width changes, the 1x1 shortcut and the first convolution
    read the block's input x: activated first in the first group (``activate_before_residual``), raw
    otherwise, as the FixMatch code."""

    def __init__(self, in_planes: int, planes: int, stride: int, bn_momentum: float,
                 activate_before_residual: bool = False) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes, momentum=bn_momentum, eps=0.001)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=bn_momentum, eps=0.001)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None if in_planes == planes else nn.Conv2d(in_planes, planes, 1, stride, 0, bias=False)
        self.activate_before_residual = activate_before_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.leaky_relu(self.bn1(x), 0.1)
        if self.shortcut is None:
            out, residual = activated, x
        else:
            x = activated if self.activate_before_residual else x
            out, residual = x, self.shortcut(x)
        out = F.leaky_relu(self.bn2(self.conv1(out)), 0.1)
        return residual + self.conv2(out)


class WideResNet(nn.Module):
    """WRN-depth-widen: groups of (depth - 4) / 6 blocks at widths 16k, 32k, 64k; ``fc`` head."""

    def __init__(self, depth: int, widen: int, num_classes: int, in_channels: int = 3, use_norm: bool = False,
                 bn_momentum: float = 0.001) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth = {depth}: must be 6n + 4")
        blocks, widths = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        groups = []
        for group in range(3):
            layers = [WideBlock(widths[group] if i == 0 else widths[group + 1], widths[group + 1],
                                (1 if group == 0 else 2) if i == 0 else 1, bn_momentum,
                                activate_before_residual=group == 0) for i in range(blocks)]
            groups.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = groups
        self.bn = nn.BatchNorm2d(widths[3], momentum=bn_momentum, eps=0.001)
        self.feature_dim = widths[3]
        self.fc = NormedLinear(self.feature_dim, num_classes) if use_norm else nn.Linear(self.feature_dim, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, feature_dim) of a (N, C, H, W) batch."""
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return F.adaptive_avg_pool2d(F.leaky_relu(self.bn(out), 0.1), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def wrn28_2(num_classes: int, in_channels: int = 3, use_norm: bool = False, bn_momentum: float = 0.001) -> WideResNet:
    return WideResNet(28, 2, num_classes, in_channels, use_norm, bn_momentum)


def wrn28_8(num_classes: int, in_channels: int = 3, use_norm: bool = False, bn_momentum: float = 0.001) -> WideResNet:
    return WideResNet(28, 8, num_classes, in_channels, use_norm, bn_momentum)
