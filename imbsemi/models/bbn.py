"""BBN's bilateral-branch CIFAR ResNet (Zhou et al., CVPR 2020): a ResNet-(6n+2) whose stages are shared up
to the last residual block, which is duplicated into a conventional-learning branch (``cb_block``, fed by
the instance-balanced sampler) and a re-balancing branch (``rb_block``, fed by the reversed sampler); one
classifier ``fc`` on the concatenation of the two branches' pooled 64-d features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.models.resnet_cifar import NormedLinear, ResNetCifar


class BilateralResNetCifar(ResNetCifar):
    """``forward`` is BBN's inference (alpha = 0.5: 2 [0.5 f_c, 0.5 f_r] = [f_c, f_r] on the same image);
    ``bilateral_logits`` its training forward on two batches with the cumulative-learning adaptor alpha."""

    def __init__(self, blocks_per_stage: int, num_classes: int, in_channels: int = 3, use_norm: bool = False) -> None:
        super().__init__(blocks_per_stage, num_classes, in_channels, use_norm)
        *shared, last = self.layer3
        self.layer3 = nn.Sequential(*shared)
        self.cb_block = last
        self.rb_block = type(last)(last.conv1.in_channels, last.conv1.out_channels, 1)
        self.feature_dim = 2 * last.conv2.out_channels
        self.fc = NormedLinear(self.feature_dim, num_classes) if use_norm else nn.Linear(self.feature_dim, num_classes)
        for module in (*self.rb_block.modules(), self.fc):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The shared layers' (N, 64, H', W') output."""
        out = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(out)))

    @staticmethod
    def _pooled(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[f_c, f_r] (N, 128) of one batch: both branches on the same images."""
        shared = self.trunk(x)
        return torch.cat([self._pooled(self.cb_block(shared)), self._pooled(self.rb_block(shared))], dim=1)

    def bilateral_logits(self, conventional: torch.Tensor, reversed_: torch.Tensor, alpha: float) -> torch.Tensor:
        """fc(2 [alpha f_c(conventional), (1 - alpha) f_r(reversed_)]): logits (N, C) of two equally large
        batches, one per branch."""
        f_c = self._pooled(self.cb_block(self.trunk(conventional)))
        f_r = self._pooled(self.rb_block(self.trunk(reversed_)))
        return self.fc(2 * torch.cat([alpha * f_c, (1 - alpha) * f_r], dim=1))


def resnet32_bbn(num_classes: int, in_channels: int = 3, use_norm: bool = False) -> BilateralResNetCifar:
    return BilateralResNetCifar(5, num_classes, in_channels, use_norm)
