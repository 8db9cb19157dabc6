"""torchvision ResNet-18/50 and ResNeXt-50 (32x4d) for larger images, with torchvision's state_dict key
names (``fc`` head)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from imbsemi.models.resnet_cifar import NormedLinear


class ResNetImageNet(ResNet):
    """torchvision's ResNet with ``features(x)`` (pooled), ``feature_dim``, any input channels and an
    optional cosine (NormedLinear) head."""

    def __init__(self, block: type[nn.Module], layers: list[int], num_classes: int, in_channels: int = 3,
                 use_norm: bool = False, groups: int = 1, width_per_group: int = 64) -> None:
        super().__init__(block, layers, num_classes=num_classes, groups=groups, width_per_group=width_per_group)
        self.feature_dim = self.fc.in_features
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        if use_norm:
            self.fc = NormedLinear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, feature_dim) of a (N, C, H, W) batch."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet18(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetImageNet:
    return ResNetImageNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, use_norm)


def resnet50(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetImageNet:
    return ResNetImageNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, use_norm)


def resnext50(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> ResNetImageNet:
    """ResNeXt-50 32x4d (the classifier-balancing reference backbone of spec §9)."""
    return ResNetImageNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, use_norm, groups=32, width_per_group=4)
