"""The classic input path: a torchvision-style Dataset over ImageArrays with per-image PIL transforms,
served by a torch DataLoader in worker processes (``data.loader: torch``)."""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision import transforms

from imbsemi.data.arrays import ImageArrays
from imbsemi.data.augment import ViewParams
from imbsemi.data.longtail import stream_seed
from imbsemi.data.sharding import shard_positions, shard_size


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


class ArrayDataset(Dataset):
    """Image ``index`` of ``arrays`` as a PIL image through ``transform``, with its target, for the key
    ``(epoch, index)``. The transform draws from the random streams seeded by (seed, epoch, index)
    (``seeded_streams``), so an image's augmentation in an epoch is the same whichever worker serves
    it, however many workers there are, and after a resume."""

    def __init__(self, arrays: ImageArrays, transform: Callable[[Image.Image], object], seed: int) -> None:
        self.images, self.targets, self.transform, self.seed = arrays.images, arrays.targets, transform, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int]) -> tuple[object, int]:
        epoch, index = key
        image = self.images[index]
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        with seeded_streams(self.seed, epoch, index):
            return self.transform(pil), int(self.targets[index])


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


def crop_flip_transforms(size: int, mean: Sequence[float], std: Sequence[float], padding: int,
                         flip: bool) -> transforms.Compose:
    """The original training transform: RandomCrop(padding), RandomHorizontalFlip, ToTensor, Normalize."""
    steps = [transforms.RandomCrop(size, padding=padding)] if padding else []
    steps += [transforms.RandomHorizontalFlip()] if flip else []
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(mean, std)])


def lightly_views(size: int, mean: Sequence[float], std: Sequence[float], params: ViewParams,
                  blur: float = 0.0) -> Callable:
    """lightly's SSL view transform (SimCLRViewTransform, which MoCoV2Transform specialises) with the
    ranges of ``params`` and Gaussian blur with probability ``blur``, ``params.count`` times: PIL
    image -> (view, ...)."""
    from lightly.transforms import SimCLRViewTransform
    from lightly.transforms.multi_view_transform import MultiViewTransform

    view = SimCLRViewTransform(input_size=size, cj_prob=params.cj_prob, cj_bright=params.cj_bright,
                               cj_contrast=params.cj_contrast, cj_sat=params.cj_sat, cj_hue=params.cj_hue,
                               min_scale=params.min_scale, random_gray_scale=params.random_gray_scale,
                               gaussian_blur=blur, hf_prob=params.hf_prob,
                               normalize={"mean": list(mean), "std": list(std)})
    transform = MultiViewTransform([view] * params.count)
    return lambda image: tuple(transform(image.convert("RGB") if len(mean) == 3 else image))


def classic_loader(arrays: ImageArrays, batch_size: int, mean: Sequence[float], std: Sequence[float],
                   padding: int, flip: bool, workers: int, seed: int, sample_weights: np.ndarray | None = None,
                   views: ViewParams | None = None, drop_last: bool = False, epoch: int = 0, rank: int = 0,
                   world_size: int = 1) -> DataLoader:
    """Shuffled (or, with ``sample_weights``, re-sampled) batches from ``workers`` processes, seeded:
    crop/flip-augmented images, or ``views.count`` SSL views per image with ``views``; the last batch
    is partial unless ``drop_last``. The order and each image's augmentation are functions of (seed,
    epoch), so the epochs after a resume (``epoch``: the first one) are served as in an uninterrupted run;
    under DDP each ``rank`` of ``world_size`` serves its own shard (EpochSampler)."""
    size = arrays.image_shape[0]
    transform = (lightly_views(size, mean, std, views) if views is not None
                 else crop_flip_transforms(size, mean, std, padding, flip))
    return epoch_loader(ArrayDataset(arrays, transform, seed), batch_size, workers, seed, sample_weights, drop_last,
                        epoch, rank, world_size)
