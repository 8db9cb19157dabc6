"""The classic input path: a torchvision-style Dataset over ImageArrays with per-image PIL transforms,
served by a torch DataLoader in worker processes (``data.loader: torch``)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from imbsemi.data.arrays import ImageArrays
from imbsemi.data.epoch_sampler import epoch_loader, seeded_streams
from imbsemi.data.recipe import AugmentRecipe, torchvision_transform, training_recipe


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


def classic_loader(arrays: ImageArrays, batch_size: int, mean: Sequence[float], std: Sequence[float],
                   padding: int, flip: bool, workers: int, seed: int, sample_weights: np.ndarray | None = None,
                   views: AugmentRecipe | None = None, drop_last: bool = False, epoch: int = 0, rank: int = 0,
                   world_size: int = 1) -> DataLoader:
    """Shuffled (or, with ``sample_weights``, re-sampled) batches from ``workers`` processes, seeded:
    crop/flip-augmented images, or ``views.count`` SSL views per image with ``views``; the last batch
    is partial unless ``drop_last``. The order and each image's augmentation are functions of (seed,
    epoch), so the epochs after a resume (``epoch``: the first one) are served as in an uninterrupted run;
    under DDP each ``rank`` of ``world_size`` serves its own shard (EpochSampler)."""
    recipe = training_recipe(flip=flip, crop_padding=padding, views=views)
    transform = torchvision_transform(recipe, mean, std, image_size=arrays.image_shape[0])
    return epoch_loader(ArrayDataset(arrays, transform, seed), batch_size, workers, seed, sample_weights, drop_last,
                        epoch, rank, world_size)
