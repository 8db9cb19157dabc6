"""DeviceLoader: images stay uint8 on the training device; batches are gathered by index and
augmented in batch, with a seeded permutation per epoch, sharded across DDP ranks."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from imbsemi.accel import channels_last, eval_batch_size
from imbsemi.data.arrays import ImageArrays
from imbsemi.data.augment import Standardize
from imbsemi.data.file_loader import FileEvalLoader
from imbsemi.data.files import ImageFiles
from imbsemi.data.longtail import stream_seed
from imbsemi.data.rank_split import shard_positions, shard_size

BatchTransform = Callable[[torch.Tensor, torch.Generator], Any]


class DeviceLoader:
    """Iterable of (transform(uint8 images (B, H, W, C)), int64 targets (B,)) batches.

    Args:
        arrays: the images to serve; copied to ``device`` once.
        batch_size: images per batch (per rank; capped at the shard size when ``shuffle``).
        transform: uint8 batch + generator -> model input (e.g. BatchAugment).
        shuffle: training mode: a new seeded permutation each epoch, each rank taking every
            ``world_size``-th index of the same permutation.
        seed: seeds the per-epoch permutations and augmentation.
        device: where images live and batches are produced (channels_last on CUDA).
        rank, world_size: this process's shard under DDP. As torch's DistributedSampler, the epoch's
            order is padded with its first indices to a multiple of ``world_size`` (with
            ``drop_last``: cut to one), so every rank runs the same number of steps.
        sample_weights: per-image weights; each epoch then draws len(arrays) images with
            replacement in proportion to them (re-sampling rules) instead of a permutation.
        loss_weights: per-image loss weights; training batches then are (inputs, targets, weights).
        soft_targets: (N, C) target distributions served in place of the integer targets.
        drop_last: serve full batches only (fixed shapes) and leave the rest of the epoch out. By
            default one epoch serves every image once in ceil(N / B) steps, as the original code;
            the images are spread evenly over those steps (199 at 64: 50, 50, 50, 49) rather than
            ending on a tiny batch (64, 64, 64, 7), whose BatchNorm statistics and full-weight
            gradient step from a handful of images derail training on small sets.
    """

    def __init__(self, arrays: ImageArrays, batch_size: int, transform: BatchTransform, *, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                 sample_weights: np.ndarray | None = None, loss_weights: np.ndarray | None = None,
                 soft_targets: np.ndarray | None = None, drop_last: bool = False) -> None:
        self.device = torch.device(device)
        # a read-only (memory-mapped) split is copied: torch cannot share non-writable memory safely
        self.images = torch.from_numpy(np.require(arrays.images, requirements=("C", "W"))).to(self.device)
        targets = arrays.targets if soft_targets is None else np.ascontiguousarray(soft_targets, dtype=np.float32)
        self.targets = torch.from_numpy(targets).to(self.device)
        self.transform, self.shuffle, self.seed, self.drop_last = transform, shuffle, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.sample_weights = None if sample_weights is None else torch.as_tensor(
            sample_weights, dtype=torch.float64, device=self.device)
        self.loss_weights = None if loss_weights is None else torch.as_tensor(
            loss_weights, dtype=torch.float32, device=self.device)
        self.layout = channels_last if self.device.type == "cuda" else (lambda batch: batch)
        self.batch_size = min(batch_size, max(self._shard_size(), 1)) if shuffle else batch_size
        self.epoch = 0

    def _shard_size(self) -> int:
        """Images per rank and epoch in training mode."""
        return shard_size(len(self.images), self.world_size, self.drop_last)

    def __len__(self) -> int:
        if not self.shuffle:
            return -(-len(self.images) // self.batch_size)
        shard = self._shard_size()
        return shard // self.batch_size if self.drop_last else -(-shard // self.batch_size)

    def _generator(self, stream: int) -> torch.Generator:
        # a CPU stream on every device: the order and augmentation of a seed are the same on CPU and CUDA
        return torch.Generator().manual_seed(stream_seed(self.seed, self.epoch, stream))

    def epoch_batches(self) -> list[torch.Tensor]:
        """The image indices of each of this rank's batches for the next epoch (advances the epoch)."""
        n = len(self.images)
        if self.sample_weights is None:
            order = torch.randperm(n, generator=self._generator(0)).to(self.device)
        else:
            order = torch.multinomial(self.sample_weights.cpu(), n, replacement=True,
                                      generator=self._generator(0)).to(self.device)
        self.epoch += 1
        positions = shard_positions(n, self.rank, self.world_size, self.drop_last) % n
        shard = order[torch.from_numpy(positions).to(self.device)]
        if self.drop_last:
            return list(shard[: len(self) * self.batch_size].split(self.batch_size))
        return list(shard.tensor_split(len(self)))

    def __iter__(self) -> Iterator[tuple[Any, torch.Tensor]]:
        if not self.shuffle:
            for start in range(0, len(self.images), self.batch_size):
                stop = start + self.batch_size
                yield self.layout(self.transform(self.images[start:stop], None)), self.targets[start:stop]
            return
        augment = self._generator(1 + self.rank)  # same order on every rank, own augmentation
        for batch in self.epoch_batches():
            inputs = self.layout(self.transform(self.images[batch], augment))
            if self.loss_weights is None:
                yield inputs, self.targets[batch]
            else:
                yield inputs, self.targets[batch], self.loss_weights[batch]


class ZippedLoader:
    """Two training DeviceLoaders stepped together: each batch is (a batch of ``main``, a batch of
    ``second``), e.g. BBN's instance-balanced and reversed samplers; ``epoch`` sets both."""

    def __init__(self, main: DeviceLoader, second: DeviceLoader) -> None:
        self.main, self.second = main, second

    @property
    def epoch(self) -> int:
        return self.main.epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self.main.epoch = self.second.epoch = epoch

    def __len__(self) -> int:
        return min(len(self.main), len(self.second))

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return zip(self.main, self.second)


def eval_loader(arrays: ImageArrays | ImageFiles, mean: Sequence[float], std: Sequence[float],
                device: torch.device | str, batch_size: int | None = None
                ) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``arrays`` in order on ``device``, standardised with ``mean`` / ``std``, not augmented
    (image files: decoded in worker processes, resized and centre-cropped by their recipe); ``batch_size``
    None: the device's ``eval_batch_size``."""
    batch_size = batch_size or eval_batch_size(device)
    if isinstance(arrays, ImageFiles):
        return FileEvalLoader(arrays, mean, std, device, batch_size)
    stats = (torch.tensor(v, dtype=torch.float32, device=device) for v in (mean, std))
    return DeviceLoader(arrays, batch_size, Standardize(*stats), device=device)
