"""The (epoch, index)-keyed sampling shared by the per-image loaders (the classic in-memory path, split-file
datasets, litdata shards): each epoch's order is a function of (seed, epoch), and each image's augmentation
draws from random streams seeded by (seed, epoch, index), whichever worker process serves it."""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from imbsemi.data.longtail import stream_seed
from imbsemi.data.rank_split import shard_positions, shard_size


class EpochSampler(Sampler[tuple[int, int]]):
    """The ``(epoch, index)`` keys of one epoch of this rank: a permutation of ``size`` images or, with
    ``weights``, ``size`` draws with replacement in proportion to them, seeded by (seed, epoch) and
    the same on every rank, split over the ranks by ``shard_positions``.

    Each pass moves to the next epoch; Lightning sets the epoch before each one (``set_epoch``). A
    loader with workers takes the first epoch's keys when its iterator is made, before that: a resumed
    run's loader is made with the epoch it resumes at."""

    def __init__(self, size: int, seed: int, weights: np.ndarray | None = None, epoch: int = 0, rank: int = 0,
                 world_size: int = 1, drop_last: bool = False) -> None:
        self.size, self.seed, self.epoch = size, seed, epoch
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return shard_size(self.size, self.world_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(stream_seed(self.seed, self.epoch, 0))
        order = (torch.randperm(self.size, generator=generator) if self.weights is None
                 else torch.multinomial(self.weights, self.size, replacement=True, generator=generator)).tolist()
        epoch, self.epoch = self.epoch, self.epoch + 1
        positions = shard_positions(self.size, self.rank, self.world_size, self.drop_last) % self.size
        return iter([(epoch, order[position]) for position in positions])


@contextmanager
def seeded_streams(*keys: int) -> Iterator[None]:
    """Run the block with torch's, numpy's and Python's global random streams seeded by ``keys`` (e.g.
    seed, epoch, image index), and give the caller's streams back afterwards."""
    item_seed = stream_seed(*keys)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            np.random.seed(item_seed)
            random.seed(item_seed)
            yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def epoch_loader(dataset: Dataset, batch_size: int, workers: int, seed: int, sample_weights: np.ndarray | None,
                 drop_last: bool, epoch: int, rank: int = 0, world_size: int = 1) -> DataLoader:
    """A DataLoader over this rank's ``(epoch, index)`` keys of an EpochSampler (from ``epoch`` on), in
    ``workers`` persistent processes."""
    sampler = EpochSampler(len(dataset), seed, sample_weights, epoch, rank, world_size, drop_last)  # type: ignore
    # the generator only seeds the workers' base seed, which the per-image seeding makes irrelevant; it
    # keeps the DataLoader from drawing on torch's global stream
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=min(batch_size, max(len(sampler), 1)), sampler=sampler, drop_last=drop_last,
                      num_workers=workers, persistent_workers=workers > 0, generator=generator)
