"""Class weights, sampling weights and the train rules (none, reweight, resample, drw) that use them."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from imbsemi.errors import ConfigError

RULES = ("none", "reweight", "resample", "resample_effective", "drw")
WEIGHTINGS = ("effective_number", "inverse_frequency")


def _counts(class_counts: Sequence[int]) -> np.ndarray:
    counts = np.asarray(class_counts, dtype=np.float64)
    if (counts <= 0).any():
        raise ConfigError(f"class_counts {list(class_counts)}: class(es) {np.flatnonzero(counts <= 0).tolist()} "
                          "have no training images; weights need every class")
    return counts


def effective_number_weights(class_counts: Sequence[int], beta: float = 0.9999) -> np.ndarray:
    """w_j proportional to (1 - beta) / (1 - beta^n_j) (Cui et al., CVPR 2019), normalised to sum to C."""
    if not 0 < beta < 1:
        raise ConfigError(f"beta = {beta}: must be in (0, 1)")
    counts = _counts(class_counts)
    weights = (1 - beta) / (1 - np.power(beta, counts))
    return weights * len(counts) / weights.sum()


def inverse_frequency_weights(class_counts: Sequence[int]) -> np.ndarray:
    """w_j proportional to 1 / n_j, normalised to sum to C."""
    weights = 1 / _counts(class_counts)
    return weights * len(weights) / weights.sum()


def class_weights(class_counts: Sequence[int], weighting: str, beta: float) -> np.ndarray:
    """Weights of ``weighting`` (one of WEIGHTINGS)."""
    if weighting == "effective_number":
        return effective_number_weights(class_counts, beta)
    if weighting == "inverse_frequency":
        return inverse_frequency_weights(class_counts)
    raise ConfigError(f"rule.weights = {weighting!r}: expected one of {', '.join(WEIGHTINGS)}")


def sample_weights(targets: np.ndarray, class_counts: Sequence[int], rule: str, beta: float) -> np.ndarray | None:
    """Per-image sampling weights of a resampling rule (None for the other rules).

    ``resample``: 1 / n_y, exact class-balanced sampling (every class drawn with probability 1/C).
    ``resample_effective``: the original code's sampler, (1 - beta) / (1 - beta^n_y), which is only
    roughly class-balanced (spec §6.5, §11.1 item 6).
    """
    counts = _counts(class_counts)
    if rule == "resample":
        per_class = 1 / counts
    elif rule == "resample_effective":
        if not 0 < beta < 1:
            raise ConfigError(f"beta = {beta}: must be in (0, 1)")
        per_class = (1 - beta) / (1 - np.power(beta, counts))
    else:
        return None
    return per_class[targets]


def with_unlabeled_share(weights: np.ndarray | None, n_labeled: int, n_total: int, share: float) -> np.ndarray:
    """Sampling weights whose draws are pool images (the last n_total - n_labeled) with probability
    ``share``; within each part the proportions of ``weights`` (uniform if None) are kept."""
    mixed = np.ones(n_total) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    mixed[:n_labeled] *= (1 - share) / mixed[:n_labeled].sum()
    mixed[n_labeled:] *= share / mixed[n_labeled:].sum()
    return mixed


def class_sampling_probabilities(class_counts: Sequence[int], rule: str, beta: float = 0.9999) -> np.ndarray:
    """Probability that a draw of ``rule``'s sampler falls in each class."""
    counts = np.asarray(class_counts)
    targets = np.repeat(np.arange(len(counts)), counts)
    weights = sample_weights(targets, counts, rule, beta)
    return np.bincount(targets, weights=weights, minlength=len(counts)) / weights.sum()


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
