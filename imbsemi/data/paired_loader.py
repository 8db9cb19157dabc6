"""PairedLoader: every training step, a labeled batch of B images and an unlabeled batch of mu x B, from
two independent seeded streams, on the training device. A step's batch is a function of the seed and the
step number alone, so a run resumed at any step sees the batches an uninterrupted run would."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from imbsemi.accel import channels_last
from imbsemi.data.arrays import ImageArrays
from imbsemi.data.longtail import stream_seed

LABELED, UNLABELED, AUGMENT = 1, 2, 3  # the streams of one seed


@dataclass
class PairedBatch:
    """One step: labeled weak views, targets and indices; unlabeled weak and strong views (a tuple of
    ``strong_views``), indices into the pool and the pool's reference labels (-1: irrelevant)."""
    labeled: torch.Tensor
    targets: torch.Tensor
    labeled_index: torch.Tensor
    weak: torch.Tensor
    strong: tuple[torch.Tensor, ...]
    unlabeled_index: torch.Tensor
    reference: torch.Tensor


class IndexStream:
    """An endless sequence of indices into ``size`` items: seeded permutations one after another (every
    item once per pass); ``batch(step)`` is the step-th run of ``batch_size`` of them."""

    def __init__(self, size: int, batch_size: int, seed: int, stream: int) -> None:
        self.size, self.batch_size, self.seed, self.stream = size, batch_size, seed, stream
        self._passes: dict[int, np.ndarray] = {}

    def _permutation(self, number: int) -> np.ndarray:
        if number not in self._passes:
            self._passes = {k: v for k, v in self._passes.items() if k >= number - 1}  # the passes still read
            rng = np.random.default_rng(stream_seed(self.seed, self.stream, number))
            self._passes[number] = rng.permutation(self.size)
        return self._passes[number]

    def batch(self, step: int) -> np.ndarray:
        """The indices of batch ``step`` (0-indexed)."""
        positions = step * self.batch_size + np.arange(self.batch_size)
        passes, offsets = np.divmod(positions, self.size)
        out = np.empty(self.batch_size, np.int64)
        for number in np.unique(passes):
            chosen = passes == number
            out[chosen] = self._permutation(int(number))[offsets[chosen]]
        return out


class StepBatches:
    """Batch ``step`` of an endless seeded stream over ``arrays`` (an IndexStream), augmented by ``transform``
    on the CPU with a generator of (seed, step): a function of the seed and the step alone, so a resumed run
    draws the batches an uninterrupted one would (e.g. Meta-Weight-Net's meta set, one batch per step)."""

    def __init__(self, arrays: ImageArrays, batch_size: int,
                 transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor], seed: int, stream: int) -> None:
        self.images, self.targets = torch.from_numpy(arrays.images.copy()), torch.from_numpy(arrays.targets.copy())
        self.indices = IndexStream(len(arrays), batch_size, seed, stream)
        self.transform, self.seed, self.stream = transform, seed, stream

    def batch(self, step: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, int64 targets) of batch ``step`` on ``device``."""
        chosen = torch.from_numpy(self.indices.batch(step))
        augment = torch.Generator().manual_seed(stream_seed(self.seed, self.stream, AUGMENT, step))
        return self.transform(self.images[chosen], augment).to(device), self.targets[chosen].to(device)


class PairedLoader:
    """Iterable of ``PairedBatch``es for steps ``start``, ``start + 1``, ... up to ``stop`` (exclusive).

    Args:
        labeled, unlabeled: the images; copied to ``device`` once.
        batch_size, mu: B labeled and mu x B unlabeled images per step.
        weak, strong: uint8 batch + generator -> model input (the weak and the strong view).
        strong_views: strong views per unlabeled image.
        seed: seeds both index streams and the augmentation.
        rank, world_size: under DDP each rank takes every world_size-th batch of the streams.
    """

    def __init__(self, labeled: ImageArrays, unlabeled: ImageArrays, batch_size: int, mu: int,
                 weak: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
                 strong: Callable[[torch.Tensor, torch.Generator], torch.Tensor], *, seed: int, start: int,
                 stop: int, strong_views: int = 1, device: torch.device | str = "cpu", rank: int = 0,
                 world_size: int = 1) -> None:
        self.device = torch.device(device)
        self.labeled_images, self.targets = self._on_device(labeled.images), self._on_device(labeled.targets)
        self.unlabeled_images = self._on_device(unlabeled.images)
        self.reference = self._on_device(unlabeled.targets)
        self.labeled_stream = IndexStream(len(labeled), batch_size, seed, LABELED)
        self.unlabeled_stream = IndexStream(len(unlabeled), mu * batch_size, seed, UNLABELED)
        self.weak, self.strong, self.strong_views = weak, strong, strong_views
        self.seed, self.start, self.stop, self.rank, self.world_size = seed, start, stop, rank, world_size
        self.layout = channels_last if self.device.type == "cuda" else (lambda batch: batch)

    def _on_device(self, array: np.ndarray) -> torch.Tensor:
        # a read-only (memory-mapped) split is copied: torch cannot share non-writable memory safely
        return torch.from_numpy(np.require(array, requirements=("C", "W"))).to(self.device)

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def batch(self, step: int) -> PairedBatch:
        """The batch of training step ``step``."""
        position = step * self.world_size + self.rank
        labeled = torch.from_numpy(self.labeled_stream.batch(position)).to(self.device)
        unlabeled = torch.from_numpy(self.unlabeled_stream.batch(position)).to(self.device)
        augment = torch.Generator().manual_seed(stream_seed(self.seed, AUGMENT, position))
        images = self.unlabeled_images[unlabeled]
        return PairedBatch(
            labeled=self.layout(self.weak(self.labeled_images[labeled], augment)), targets=self.targets[labeled],
            labeled_index=labeled, weak=self.layout(self.weak(images, augment)),
            strong=tuple(self.layout(self.strong(images, augment)) for _ in range(self.strong_views)),
            unlabeled_index=unlabeled, reference=self.reference[unlabeled])

    def __iter__(self) -> Iterator[PairedBatch]:
        for step in range(self.start, self.stop):
            yield self.batch(step)
