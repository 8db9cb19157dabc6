"""Class-aware sampling of training images: the re-sampling rules (resample, resample_effective, reversed),
the share of pool images per batch in self-training, and the rule inputs of the DRW schedule."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from imbsemi.errors import ConfigError

SAMPLING_RULES = ("resample", "resample_effective", "reversed")


def positive_counts(class_counts: Sequence[int]) -> np.ndarray:
    """``class_counts`` as float64, or ConfigError if a class has no training image."""
    counts = np.asarray(class_counts, dtype=np.float64)
    if (counts <= 0).any():
        raise ConfigError(f"class_counts {list(class_counts)}: class(es) {np.flatnonzero(counts <= 0).tolist()} "
                          "have no training images; weights need every class")
    return counts


def check_beta(beta: float) -> None:
    """ConfigError unless 0 < beta < 1 (the effective-number hyper-parameter)."""
    if not 0 < beta < 1:
        raise ConfigError(f"beta = {beta}: must be in (0, 1)")


def effective_rule(rule: str, mode: str) -> str:
    """The rule a run applies: cRT re-trains its head on class-balanced batches (``resample``)
    unless the user chose another rule."""
    return "resample" if mode == "crt" and rule == "none" else rule


def drw_start_epoch(drw_epoch: int | None, drw_fraction: float, epochs: int) -> int:
    """The 0-indexed epoch from which DRW weights the loss: ``drw_epoch``, else ``drw_fraction`` of the run."""
    return drw_epoch if drw_epoch is not None else round(drw_fraction * epochs)


def sample_weights(targets: np.ndarray, class_counts: Sequence[int], rule: str, beta: float) -> np.ndarray | None:
    """Per-image sampling weights of a re-sampling rule (None for the other rules).

    ``resample``: 1 / n_y, exact class-balanced sampling (every class drawn with probability 1/C).
    ``resample_effective``: the original code's sampler, (1 - beta) / (1 - beta^n_y), which is only
    roughly class-balanced (spec §6.5, §11.1 item 6).
    ``reversed``: BBN's reversed sampler, a class with probability proportional to n_max / n_y, then one
    of its images uniformly: 1 / n_y^2 per image.
    """
    if rule not in SAMPLING_RULES:
        return None
    counts = positive_counts(class_counts)
    if rule == "resample":
        per_class = 1 / counts
    elif rule == "reversed":
        per_class = 1 / counts ** 2
    else:
        check_beta(beta)
        per_class = (1 - beta) / (1 - np.power(beta, counts))
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
