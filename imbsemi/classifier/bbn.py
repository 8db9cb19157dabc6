"""BBN (Zhou et al., CVPR 2020): a bilateral-branch network trained with cumulative learning. Each step
takes an instance-balanced batch (x_c, y_c) for the conventional branch and a reversed-sampler batch
(x_r, y_r) for the re-balancing branch; with the adaptor alpha = 1 - (T / T_max)^2 (T the 0-indexed epoch)

    z = fc(2 [alpha f_c(x_c), (1 - alpha) f_r(x_r)]),   L = alpha L(z, y_c) + (1 - alpha) L(z, y_r),

so the emphasis moves from representation learning to re-balancing along the run; inference mixes both
branches with alpha = 0.5 on the same image (the network's ``forward``)."""
from __future__ import annotations

from typing import Any

import torch

from imbsemi.classifier.module import ClassifierModule
from imbsemi.errors import ConfigError


def cumulative_alpha(epoch: int, epochs: int) -> float:
    """BBN's parabolic-decay adaptor 1 - (epoch / epochs)^2 of the 0-indexed ``epoch``."""
    return 1 - (epoch / epochs) ** 2


class BBN(ClassifierModule):
    """ClassifierModule of a bilateral network (``model.bilateral_logits``, e.g. ``resnet32_bbn``) fed by
    the instance-balanced and the reversed sampler in the same step."""

    second_sampler = "reversed"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(self.model, "bilateral_logits"):
            raise ConfigError(f"method bbn needs a bilateral-branch network (model.arch: resnet32_bbn); "
                              f"got {type(self.model).__name__}")

    def training_loss(self, batch: tuple) -> torch.Tensor:
        (images_c, targets_c, *weights_c), (images_r, targets_r, *weights_r) = batch
        alpha = cumulative_alpha(self.current_epoch, self.epochs)
        logits = self.model.bilateral_logits(images_c, images_r, alpha)
        self.log("train/alpha", alpha)
        return (alpha * self.loss(logits, targets_c, weights_c[0] if weights_c else None)
                + (1 - alpha) * self.loss(logits, targets_r, weights_r[0] if weights_r else None))
