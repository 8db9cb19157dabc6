"""Class weights of the loss and their schedule per epoch (none, reweight, drw); sampling rules live in
``imbsemi.data.sampling``."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from imbsemi.data.sampling import check_beta, positive_counts
from imbsemi.errors import ConfigError

RULES = ("none", "reweight", "resample", "resample_effective", "reversed", "drw")
WEIGHTINGS = ("effective_number", "inverse_frequency")


def effective_number_weights(class_counts: Sequence[int], beta: float = 0.9999) -> np.ndarray:
    """w_j proportional to (1 - beta) / (1 - beta^n_j) (Cui et al., CVPR 2019), normalised to sum to C."""
    check_beta(beta)
    counts = positive_counts(class_counts)
    weights = (1 - beta) / (1 - np.power(beta, counts))
    return weights * len(counts) / weights.sum()


def inverse_frequency_weights(class_counts: Sequence[int]) -> np.ndarray:
    """w_j proportional to 1 / n_j, normalised to sum to C."""
    weights = 1 / positive_counts(class_counts)
    return weights * len(weights) / weights.sum()


def class_weights(class_counts: Sequence[int], weighting: str, beta: float) -> np.ndarray:
    """Weights of ``weighting`` (one of WEIGHTINGS)."""
    if weighting == "effective_number":
        return effective_number_weights(class_counts, beta)
    if weighting == "inverse_frequency":
        return inverse_frequency_weights(class_counts)
    raise ConfigError(f"rule.weights = {weighting!r}: expected one of {', '.join(WEIGHTINGS)}")


class WeightSchedule:
    """Class weights per epoch for a train rule.

    ``reweight``: weights from the first epoch; ``drw`` (deferred re-weighting, Cao et al. 2019): none
    before ``drw_start``, weights from that 0-indexed epoch on; other rules: none.
    """

    def __init__(self, rule: str, class_counts: Sequence[int], weighting: str, beta: float,
                 drw_start: int) -> None:
        if rule not in RULES:
            raise ConfigError(f"rule.name = {rule!r}: unknown rule; registered: {', '.join(RULES)}")
        self.rule, self.drw_start = rule, drw_start
        self.weights = class_weights(class_counts, weighting, beta) if rule in ("reweight", "drw") else None

    def at(self, epoch: int) -> np.ndarray | None:
        """Class weights for 0-indexed ``epoch`` (None: unweighted)."""
        if self.rule == "reweight" or (self.rule == "drw" and epoch >= self.drw_start):
            return self.weights
        return None
