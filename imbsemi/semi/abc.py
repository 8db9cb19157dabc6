"""ABC: FixMatch with an Auxiliary Balanced Classifier (Lee et al., NeurIPS 2021), as USB's
``semilearn/imb_algorithms/abc/abc.py``.

A second linear head ``aux`` on the shared features is trained, beside FixMatch's losses, on a class-balanced
subset of each batch, drawn afresh every step:

    r_c = N_min / N_c                                   (labeled images per class N_c)
    L_lab = mean_i  m_i CE(aux(f_i), y_i),              m_i ~ Bernoulli(r_{y_i})
    q_j = softmax(aux(f_j^weak)),  yhat_j = argmax q_j
    L_unl = mean_j  1[max q_j >= abc_p_cutoff] m_j CE(aux(f_j^strong), yhat_j),
            m_j ~ Bernoulli(1 - (k / K) (1 - r_{yhat_j}))   (step k of K: from keeping all to r at the end)
    loss = FixMatch loss + abc_loss_ratio (L_lab + L_unl)

The auxiliary head (its EMA) predicts: evaluation and the exported network (the EMA network whose ``fc``
is the EMA auxiliary head). Departures: the unlabeled keep probability follows the step k / K, where USB
moves it once per epoch (epoch / epochs, 256 epochs); the Bernoulli draws come from a generator seeded by
(seed, step, rank), not the global RNG, so a resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.config import SemiConfig
from imbsemi.errors import ConfigError
from imbsemi.semi.base import FixMatch, StepOutputs

BERNOULLI_STREAM = 4


class ABC(FixMatch):
    """FixMatch + an auxiliary balanced classifier ``net["aux"]`` that evaluation and export predict from.

    Args:
        abc_p_cutoff: confidence the auxiliary head's weak-view prediction needs to become its pseudo-label.
        abc_loss_ratio: weight of the auxiliary head's loss.
    """

    def __init__(self, model: nn.Module, settings: SemiConfig, labeled_counts: Sequence[int], pool_size: int, *,
                 abc_p_cutoff: float = 0.95, abc_loss_ratio: float = 1.0) -> None:
        super().__init__(model, settings, labeled_counts, pool_size)
        fc = model.fc
        if not (isinstance(fc, nn.Linear) and fc.bias is not None
                and tuple(fc.weight.shape) == (self.num_classes, model.feature_dim)):
            raise ConfigError("method abc: the network's head `fc` must be a plain nn.Linear with a bias (not "
                              "use_norm), since the exported network's fc is replaced by the auxiliary head")
        self.abc_p_cutoff, self.abc_loss_ratio = abc_p_cutoff, abc_loss_ratio

    def extra_heads(self, feature_dim: int, num_classes: int) -> dict[str, nn.Module]:
        return {"aux": nn.Linear(feature_dim, num_classes)}

    def keep_probabilities(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class Bernoulli keep probabilities at ``step``: labeled r_c = N_min / N_c, and unlabeled
        1 - (step / steps) (1 - r_c)."""
        ratio = self.labeled_counts.min() / self.labeled_counts
        return ratio, 1 - (step / self.settings.steps) * (1 - ratio)

    def draw(self, probs: torch.Tensor) -> torch.Tensor:
        """0/1 Bernoulli(probs) draws from a generator seeded by (seed, global step, rank)."""
        uniform = torch.rand(probs.shape, generator=self.step_generator(BERNOULLI_STREAM))
        return (uniform.to(probs.device) < probs).float()

    def extra_loss(self, out: StepOutputs, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """abc_loss_ratio x (balanced labeled CE + balanced, confident consistency) of the auxiliary head."""
        aux, labels = self.net["aux"], out.batch.targets
        labeled_keep, unlabeled_keep = self.keep_probabilities(self.global_step)
        with torch.no_grad():
            confidence, pseudo = aux(out.features_weak).float().softmax(1).max(1)
            keep = self.draw(torch.cat([labeled_keep[labels], unlabeled_keep[pseudo]]))
            keep_labeled, keep_unlabeled = keep.split([len(labels), len(pseudo)])
            keep_unlabeled = keep_unlabeled * (confidence >= self.abc_p_cutoff).float()
        labeled = (F.cross_entropy(aux(out.features_labeled), labels, reduction="none") * keep_labeled).mean()
        unlabeled = torch.stack([(F.cross_entropy(aux(features), pseudo, reduction="none") * keep_unlabeled).mean()
                                 for features in out.features_strong]).mean()
        return self.abc_loss_ratio * (labeled + unlabeled)

    def eval_logits(self, net: nn.ModuleDict, images: torch.Tensor) -> torch.Tensor:
        """The auxiliary head's logits."""
        return net["aux"](net["model"].features(images))

    def export_network(self) -> nn.Module:
        """A copy of the EMA network whose ``fc`` is the EMA auxiliary head."""
        network = copy.deepcopy(self.ema["model"])
        network.fc = copy.deepcopy(self.ema["aux"])
        return network
