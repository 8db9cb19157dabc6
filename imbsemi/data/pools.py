"""Unlabeled pools: relevant images following rho_u, mixed with irrelevant images by relevance."""
from __future__ import annotations

import warnings

import numpy as np

from imbsemi.data.arrays import NO_LABEL, ImageArrays, gather
from imbsemi.data.longtail import by_label, select_per_class, unlabeled_counts
from imbsemi.errors import DataError

SHORTAGE_HINT = "; lower data.pool.size_factor or data.pool.rho_u, or set data.pool.allow_shortage: true"


def irrelevant_size(relevant: int, total: int, relevance: float) -> int:
    """Irrelevant images to add to ``relevant`` ones so the realised relevance is within half an image
    of ``relevance``; with no relevant share, the whole ``total``."""
    if relevance == 0:
        return total
    return int(round(relevant * (1 - relevance) / relevance))


def build_pool(relevant: ImageArrays, candidates: np.ndarray, labeled_total: int, *,
               size_factor: float, rho_u: float, relevance: float, head_to_tail: tuple[int, ...] | None,
               irrelevant: ImageArrays | None, rngs: dict[str, np.random.Generator],
               allow_shortage: bool = False) -> tuple[ImageArrays, list[dict]]:
    """Draw the pool (spec §4.3-4.5): T = int(size_factor x labeled_total); per-class counts of
    ``unlabeled_counts(round(relevance x T), C, rho_u)`` from ``relevant[candidates]`` by reference
    label, plus irrelevant images drawn uniformly. Returns the pool (targets: reference labels, -1
    for irrelevant images) and the shortages taken under ``allow_shortage``.
    """
    total = int(size_factor * labeled_total)
    head_first = unlabeled_counts(int(round(relevance * total)), relevant.num_classes, rho_u)
    shortages: list[dict] | None = [] if allow_shortage else None
    chosen = select_per_class(relevant.targets, by_label(head_first, head_to_tail), rngs["pool"], candidates,
                              what="unlabeled pool", hint=SHORTAGE_HINT, shortages=shortages)
    for entry in shortages or []:
        warnings.warn(f"unlabeled pool: class {entry['class']} gets {entry['available']} of "
                      f"{entry['requested']} requested images (allow_shortage)")
    n_irrelevant = irrelevant_size(len(chosen), total, relevance)
    parts = [(relevant, chosen)]
    if n_irrelevant:
        if irrelevant is None:
            raise DataError(f"data.pool.relevance = {relevance}: the pool needs {n_irrelevant} irrelevant "
                            "images; set data.pool.irrelevant to a source name")
        if n_irrelevant > len(irrelevant):
            raise DataError(f"irrelevant source {irrelevant.provenance.sources[0]}: the pool needs "
                            f"{n_irrelevant} images but it has only {len(irrelevant)}")
        picked = np.sort(rngs["irrelevant"].choice(len(irrelevant), n_irrelevant, replace=False))
        parts.append((irrelevant, picked))
    targets = np.concatenate([relevant.targets[chosen], np.full(n_irrelevant, NO_LABEL, np.int64)])
    return gather(parts, relevant.classes, targets), shortages or []
