"""Unlabeled pools: relevant images per class by the paper's rule or the LT-SSL rule (in the labeled
order or reversed), mixed with irrelevant images by relevance."""
from __future__ import annotations

import warnings

import numpy as np

from imbsemi.config import PoolConfig
from imbsemi.data.arrays import NO_LABEL, ImageArrays, gather
from imbsemi.data.longtail import by_label, class_counts, select_per_class, unlabeled_counts
from imbsemi.errors import DataError

SHORTAGE_HINT = ("; lower data.pool.size_factor (data.pool.n_max under the LT-SSL rule) or data.pool.rho_u, or set "
                 "data.pool.allow_shortage: true")


def irrelevant_size(relevant: int, total: int, relevance: float) -> int:
    """Irrelevant images to add to ``relevant`` ones so the realised relevance is within half an image
    of ``relevance``; with no relevant share, the whole ``total``."""
    if relevance == 0:
        return total
    return int(round(relevant * (1 - relevance) / relevance))


def pool_counts(config: PoolConfig, num_classes: int, labeled_total: int) -> tuple[list[int], int]:
    """Relevant pool images per class, listed in the labeled head-to-tail order, and the pool's size T.

    The paper's rule (spec §4.3-4.5, ``n_max`` null): T = int(size_factor x labeled_total), counts
    ``unlabeled_counts(round(relevance x T), C, rho_u)``. The LT-SSL rule (``n_max`` = M1):
    M_i = int(relevance x M1 x rho_u^(-i/(C-1))), T = sum of the M_i at relevance 1. ``order:
    reversed`` gives the largest count to the labeled tail class.
    """
    if config.n_max is None:
        total = int(config.size_factor * labeled_total)
        counts = unlabeled_counts(int(round(config.relevance * total)), num_classes, config.rho_u)
    else:
        total = sum(class_counts(config.n_max, num_classes, config.rho_u, "exp"))
        counts = class_counts(config.relevance * config.n_max, num_classes, config.rho_u, "exp")
    return (counts[::-1] if config.order == "reversed" else counts), total


def build_pool(relevant: ImageArrays, candidates: np.ndarray, labeled_total: int, config: PoolConfig,
               head_to_tail: tuple[int, ...] | None, irrelevant: ImageArrays | None,
               rngs: dict[str, np.random.Generator]) -> tuple[ImageArrays, list[dict]]:
    """Draw the pool: the per-class counts of ``pool_counts`` from ``relevant[candidates]`` by reference
    label, plus irrelevant images drawn uniformly. Returns the pool (targets: reference labels, -1
    for irrelevant images) and the shortages taken under ``config.allow_shortage``.
    """
    head_first, total = pool_counts(config, relevant.num_classes, labeled_total)
    shortages: list[dict] | None = [] if config.allow_shortage else None
    chosen = select_per_class(relevant.targets, by_label(head_first, head_to_tail), rngs["pool"], candidates,
                              what="unlabeled pool", hint=SHORTAGE_HINT, shortages=shortages)
    for entry in shortages or []:
        warnings.warn(f"unlabeled pool: class {entry['class']} gets {entry['available']} of "
                      f"{entry['requested']} requested images (allow_shortage)")
    n_irrelevant = irrelevant_size(len(chosen), total, config.relevance)
    parts = [(relevant, chosen)]
    if n_irrelevant:
        if irrelevant is None:
            raise DataError(f"data.pool.relevance = {config.relevance}: the pool needs {n_irrelevant} irrelevant "
                            "images; set data.pool.irrelevant to a source name")
        if n_irrelevant > len(irrelevant):
            raise DataError(f"irrelevant source {irrelevant.provenance.sources[0]}: the pool needs "
                            f"{n_irrelevant} images but it has only {len(irrelevant)}")
        picked = np.sort(rngs["irrelevant"].choice(len(irrelevant), n_irrelevant, replace=False))
        parts.append((irrelevant, picked))
    targets = np.concatenate([relevant.targets[chosen], np.full(n_irrelevant, NO_LABEL, np.int64)])
    return gather(parts, relevant.classes, targets), shortages or []
