"""CIFAR ResNets (He et al. 2016, option-A shortcuts) with the original code's state_dict key names.

ResNet-32 has 188 state_dict keys with a Linear head (``fc.weight``, ``fc.bias``) and 187 with the
NormedLinear head (``fc.weight`` only, shape (in, out)). Global average pooling makes the same
network work on 8x8 and 32x32 inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.accel import full_precision

HEAD_KEYS = ("fc.weight", "fc.bias")


class NormedLinear(nn.Module):
    """Cosine head of LDAM: logits = normalize(x, dim=1) @ normalize(W, dim=0), W of shape (in, out).

    Computed in fp32 even under bf16 autocast: LDAM scales these cosines by s = 30, which would turn
    bf16's rounding (up to ~3e-3 here) into logit errors of ~0.1."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with full_precision(x.device):
            return F.normalize(x.float(), dim=1).mm(F.normalize(self.weight.float(), dim=0))


class ShortcutA(nn.Module):
    """Parameter-free shortcut: subsample by 2 and zero-pad planes // 4 channels on each side."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(planes) if stride != 1 or in_planes != planes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) with widths 16/32/64, ``fc`` head (Linear, or NormedLinear when ``use_norm``)."""

    def __init__(self, blocks_per_stage: int, num_classes: int, in_channels: int = 3,
                 use_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        widths, in_planes = (16, 32, 64), 16
        for stage, (width, stride) in enumerate(zip(widths, (1, 2, 2)), start=1):
            layers = []
            for block in range(blocks_per_stage):
                layers.append(BasicBlock(in_planes, width, stride if block == 0 else 1))
                in_planes = width
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.feature_dim = 64
        self.fc = NormedLinear(64, num_classes) if use_norm else nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 64-d features of a (N, C, H, W) batch."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet20(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetCifar:
    return ResNetCifar(3, num_classes, in_channels, use_norm)


def resnet32(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetCifar:
    return ResNetCifar(5, num_classes, in_channels, use_norm)


def resnet44(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetCifar:
    return ResNetCifar(7, num_classes, in_channels, use_norm)


def resnet56(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetCifar:
    return ResNetCifar(9, num_classes, in_channels, use_norm)


def resnet110(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetCifar:
    return ResNetCifar(18, num_classes, in_channels, use_norm)
