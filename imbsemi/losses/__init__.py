"""Loss registry. Contract: ``__init__(class_counts, *, hparams)``, ``forward(logits, target, weight=None)``."""
from imbsemi.losses.cross_entropy import CrossEntropyLoss
from imbsemi.losses.focal import FocalLoss
from imbsemi.losses.ldam import LDAMLoss
from imbsemi.losses.logit_adjusted import BalancedSoftmaxLoss, LogitAdjustedLoss

LOSSES = {
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "ldam": LDAMLoss,
    "balanced_softmax": BalancedSoftmaxLoss,
    "logit_adjusted": LogitAdjustedLoss,
}

__all__ = ["LOSSES"]
