"""DeviceLoader: images stay uint8 on the training device; batches are gathered by index and
augmented in batch, with a seeded permutation per epoch."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from imbsemi.data.arrays import ImageArrays
from imbsemi.data.augment import crop_flip, normalize


class DeviceLoader:
    """Iterable of (float images (B, C, H, W), int64 targets (B,)) batches.

    Args:
        arrays: the images to serve.
        batch_size: images per batch (capped at the set size when ``shuffle``).
        mean, std: per-channel normalisation on the 0-1 scale.
        shuffle: training mode: a new seeded permutation each epoch, full batches only.
        padding, flip: crop-with-padding and horizontal-flip augmentation (training mode).
        seed: seeds the per-epoch permutations and augmentation.
        device: where images live and batches are produced.
    """

    def __init__(self, arrays: ImageArrays, batch_size: int, *, mean: Sequence[float], std: Sequence[float],
                 shuffle: bool = False, padding: int = 0, flip: bool = False, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.images = torch.from_numpy(arrays.images).to(self.device)
        self.targets = torch.from_numpy(arrays.targets).to(self.device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device)
        self.shuffle = shuffle
        self.batch_size = min(batch_size, len(arrays)) if shuffle else batch_size
        self.padding, self.flip, self.seed = padding, flip, seed
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.shuffle else -(-n // self.batch_size)

    def _generator(self) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        return torch.Generator(device=self.device).manual_seed(int(state))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                batch = self.images[start:start + self.batch_size]
                yield normalize(batch, self.mean, self.std), self.targets[start:start + self.batch_size]
            return
        generator = self._generator()
        self.epoch += 1
        order = torch.randperm(n, device=self.device, generator=generator)
        for step in range(len(self)):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            batch = crop_flip(self.images[index], self.padding, self.flip, generator)
            yield normalize(batch, self.mean, self.std), self.targets[index]
