"""Loss registry. Contract: ``__init__(class_counts, *, hparams)``, ``forward(logits, target, weight=None)``."""
from imbsemi.losses.cross_entropy import CrossEntropyLoss

LOSSES = {
    "ce": CrossEntropyLoss,
}

__all__ = ["LOSSES"]
