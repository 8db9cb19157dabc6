"""Unlabeled pools: relevant images following rho_u, mixed with irrelevant images by relevance."""
from __future__ import annotations

import numpy as np

from imbsemi.data.arrays import NO_LABEL, ImageArrays, concat
from imbsemi.data.longtail import select_per_class, unlabeled_counts
from imbsemi.errors import DataError


def pool_sizes(labeled_total: int, size_factor: float, relevance: float) -> tuple[int, int]:
    """(relevant, irrelevant) image totals of a pool of size_factor x labeled_total images."""
    total = int(size_factor * labeled_total)
    relevant = int(round(relevance * total))
    return relevant, total - relevant


def build_pool(relevant: ImageArrays, candidates: np.ndarray, labeled_total: int, *,
               size_factor: float, rho_u: float, relevance: float,
               irrelevant: ImageArrays | None, rngs: dict[str, np.random.Generator]) -> ImageArrays:
    """Draw the pool: per-class counts of spec §4.3 from ``relevant[candidates]`` (by reference
    label), plus a uniform draw of the irrelevant share. Pool targets keep the reference labels
    (-1 for irrelevant images); pseudo-labels replace them later.
    """
    n_relevant, n_irrelevant = pool_sizes(labeled_total, size_factor, relevance)
    counts = unlabeled_counts(n_relevant, relevant.num_classes, rho_u)
    chosen = select_per_class(relevant.targets, counts, rngs["pool"], candidates, what="unlabeled pool")
    parts = [relevant.subset(chosen)]
    if n_irrelevant:
        if irrelevant is None:
            raise DataError(f"data.pool.relevance = {relevance}: the pool needs {n_irrelevant} irrelevant "
                            "images; set data.pool.irrelevant to a source name")
        if n_irrelevant > len(irrelevant):
            raise DataError(f"irrelevant source {irrelevant.provenance.sources}: the pool needs "
                            f"{n_irrelevant} images but it has only {len(irrelevant)}")
        picked = np.sort(rngs["irrelevant"].choice(len(irrelevant), n_irrelevant, replace=False))
        outside = irrelevant.subset(picked)
        parts.append(ImageArrays(outside.images, np.full(n_irrelevant, NO_LABEL, np.int64),
                                 relevant.classes, outside.provenance))
    return concat(parts)
