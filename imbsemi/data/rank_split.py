"""How an epoch's order is split over DDP ranks, in one place for every loader (the DeviceLoader, the
classic and file loaders' EpochSampler, the evaluation shares): as torch's DistributedSampler, rank r
takes every ``world_size``-th item from the r-th, of the order padded with its first items to a
multiple of ``world_size`` (``drop_last``: cut to one), so every rank runs the same number of steps."""
from __future__ import annotations

import numpy as np


def shard_size(size: int, world_size: int, drop_last: bool = False) -> int:
    """Items per rank of a ``size``-long order."""
    return size // world_size if drop_last else -(-size // world_size)


def shard_positions(size: int, rank: int, world_size: int, drop_last: bool = False) -> np.ndarray:
    """Positions in a ``size``-long order of ``rank``'s items; a position >= ``size`` is padding, the
    item at that position modulo ``size``."""
    return np.arange(rank, shard_size(size, world_size, drop_last) * world_size, world_size)
