"""Per-class counts of long-tailed labeled sets and unlabeled pools, and seeded per-class selection."""
from __future__ import annotations

import numpy as np

from imbsemi.errors import DataError

# One independent random stream per purpose, so changing e.g. the pool never moves the labeled split.
STREAMS = ("validation", "labeled", "pool", "irrelevant")


def seed_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent numpy generators for each purpose in STREAMS, derived from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def stream_seed(*keys: int) -> int:
    """A 32-bit seed for the random stream named by ``keys`` (e.g. seed, epoch, stream), independent of
    the streams of other keys."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def class_shares(num_classes: int, rho: float, imb_type: str) -> list[float]:
    """Each class's share of n_max, head first (spec §3.1): exp: (1/rho) ** (i / (C - 1)); step: 1 for
    the first C - C//2 classes, 1/rho for the last C//2; uniform: 1 each."""
    if rho < 1:
        raise DataError(f"rho = {rho}: must be >= 1")
    factor = 1.0 / rho
    if imb_type == "exp":
        return [1.0] if num_classes == 1 else [factor ** (i / (num_classes - 1.0)) for i in range(num_classes)]
    if imb_type == "step":
        tail = num_classes // 2
        return [1.0] * (num_classes - tail) + [factor] * tail
    if imb_type == "uniform":
        return [1.0] * num_classes
    raise DataError(f"imb_type = {imb_type!r}: expected one of exp, step, uniform")


def class_counts(n_max: float, num_classes: int, rho: float, imb_type: str) -> list[int]:
    """Labeled images per class, head first (spec §3.1): int(n_max * share) with ``class_shares``."""
    return [int(n_max * share) for share in class_shares(num_classes, rho, imb_type)]


def largest_n_max(available: list[int], rho: float, imb_type: str) -> int:
    """The largest n_max whose ``class_counts`` (head first) fit in the ``available`` images per class
    (head first)."""
    shares = class_shares(len(available), rho, imb_type)
    return int(min(count / share for count, share in zip(available, shares)))


def unlabeled_counts(total: int, num_classes: int, rho_u: float) -> list[int]:
    """Pool images per class, head first, for a target ``total`` (spec §4.3).

    b = total // C; u_i = int(b * (1/rho_u) ** (i / (C - 1))); then u_i = int(u_i * total / sum(u)).
    """
    if rho_u < 1:
        raise DataError(f"rho_u = {rho_u}: must be >= 1")
    if total <= 0:
        return [0] * num_classes
    base = total // num_classes
    raw = class_counts(base, num_classes, rho_u, "exp")
    if sum(raw) == 0:
        return raw
    scale = total / sum(raw)
    return [int(u * scale) for u in raw]


def by_label(head_first: list[int], head_to_tail: tuple[int, ...] | None) -> list[int]:
    """Counts listed head first -> counts in label order (``head_to_tail[i]`` gets ``head_first[i]``)."""
    if head_to_tail is None:
        return list(head_first)
    counts = [0] * len(head_first)
    for position, label in enumerate(head_to_tail):
        counts[label] = head_first[position]
    return counts


def by_rank(per_label: list[int], head_to_tail: tuple[int, ...] | None) -> list[int]:
    """Counts in label order -> counts listed head first (the inverse of ``by_label``)."""
    return list(per_label) if head_to_tail is None else [per_label[label] for label in head_to_tail]


def select_per_class(targets: np.ndarray, counts: list[int], rng: np.random.Generator,
                     candidates: np.ndarray | None = None, what: str = "labeled set", hint: str = "",
                     shortages: list[dict] | None = None) -> np.ndarray:
    """Indices into ``targets``: for each class c (ascending), ``counts[c]`` drawn without replacement.

    Args:
        targets: reference labels of all images.
        counts: images wanted per class, in label order.
        rng: the purpose's random stream.
        candidates: indices allowed to be drawn (default: all).
        what, hint: name of the set being built and advice, for the shortage error.
        shortages: if given, a class with too few images gives what it has and is recorded here
            as {class, requested, available}; otherwise a shortage is a DataError.
    """
    pool = np.arange(len(targets)) if candidates is None else np.asarray(candidates)
    chosen = []
    for label, wanted in enumerate(counts):
        available = pool[targets[pool] == label]
        if wanted > len(available):
            if shortages is None:
                raise DataError(f"{what}: class {label} needs {wanted} images but only {len(available)} "
                                f"are available{hint}")
            shortages.append({"what": what, "class": label, "requested": wanted, "available": len(available)})
        chosen.append(rng.permutation(available)[:wanted])
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, np.int64)
