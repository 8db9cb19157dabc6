"""The classic input path: a torchvision-style Dataset over ImageArrays with per-image PIL transforms,
served by a torch DataLoader in worker processes (``data.loader: torch``)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision import transforms

from imbsemi.data.arrays import ImageArrays
from imbsemi.data.augment import ViewParams


class ArrayDataset(Dataset):
    """Image i of ``arrays`` as a PIL image through ``transform``, with its target."""

    def __init__(self, arrays: ImageArrays, transform: Callable[[Image.Image], object]) -> None:
        self.images, self.targets, self.transform = arrays.images, arrays.targets, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[object, int]:
        image = self.images[index]
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return self.transform(pil), int(self.targets[index])


def crop_flip_transforms(size: int, mean: Sequence[float], std: Sequence[float], padding: int,
                         flip: bool) -> transforms.Compose:
    """The original training transform: RandomCrop(padding), RandomHorizontalFlip, ToTensor, Normalize."""
    steps = [transforms.RandomCrop(size, padding=padding)] if padding else []
    steps += [transforms.RandomHorizontalFlip()] if flip else []
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(mean, std)])


def lightly_views(size: int, mean: Sequence[float], std: Sequence[float], params: ViewParams) -> Callable:
    """lightly's SSL view transform (SimCLRViewTransform, which MoCoV2Transform specialises) with the
    ranges of ``params`` and no blur, ``params.count`` times: PIL image -> (view, ...)."""
    from lightly.transforms import SimCLRViewTransform
    from lightly.transforms.multi_view_transform import MultiViewTransform

    view = SimCLRViewTransform(input_size=size, cj_prob=params.cj_prob, cj_bright=params.cj_bright,
                               cj_contrast=params.cj_contrast, cj_sat=params.cj_sat, cj_hue=params.cj_hue,
                               min_scale=params.min_scale, random_gray_scale=params.random_gray_scale,
                               gaussian_blur=0.0, hf_prob=params.hf_prob,
                               normalize={"mean": list(mean), "std": list(std)})
    transform = MultiViewTransform([view] * params.count)
    return lambda image: tuple(transform(image.convert("RGB") if len(mean) == 3 else image))


def classic_loader(arrays: ImageArrays, batch_size: int, mean: Sequence[float], std: Sequence[float],
                   padding: int, flip: bool, workers: int, seed: int, sample_weights: np.ndarray | None = None,
                   views: ViewParams | None = None, drop_last: bool = False) -> DataLoader:
    """Shuffled (or, with ``sample_weights``, re-sampled) batches from ``workers`` processes, seeded:
    crop/flip-augmented images, or ``views.count`` SSL views per image with ``views``; the last batch
    is partial unless ``drop_last``."""
    size = arrays.image_shape[0]
    transform = (lightly_views(size, mean, std, views) if views is not None
                 else crop_flip_transforms(size, mean, std, padding, flip))
    dataset = ArrayDataset(arrays, transform)
    generator = torch.Generator().manual_seed(seed)
    sampler = None if sample_weights is None else WeightedRandomSampler(
        torch.as_tensor(sample_weights, dtype=torch.float64), len(arrays), generator=generator)
    return DataLoader(dataset, batch_size=min(batch_size, len(arrays)), shuffle=sampler is None, sampler=sampler,
                      drop_last=drop_last, num_workers=workers, persistent_workers=workers > 0, generator=generator)
