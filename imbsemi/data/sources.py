"""Image sources in their real formats. Each loader returns ImageArrays for one split.

``digits`` (the default) is scikit-learn's 1,797 real 8x8 handwritten digits; no download.
``photos`` is the irrelevant source for digits: crops of the two photographs scikit-learn ships.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from imbsemi.data.arrays import NO_LABEL, ImageArrays, Provenance
from imbsemi.errors import DataError

DIGITS_TEST_PER_CLASS = 50  # digits has no official test split; this fixed one is the same for every seed
PHOTO_CROPS = 4000


def load_digits(split: str, root: str) -> ImageArrays:
    """scikit-learn digits as uint8 (N, 8, 8, 1); 'test' is a fixed 50-per-class split (seed 0)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    targets = bunch.target.astype(np.int64)
    rng = np.random.default_rng(0)
    is_test = np.zeros(len(targets), dtype=bool)
    for label in range(10):
        members = np.flatnonzero(targets == label)
        is_test[rng.permutation(members)[:DIGITS_TEST_PER_CLASS]] = True
    index = np.flatnonzero(is_test if split == "test" else ~is_test)
    return ImageArrays(images[index], targets[index], tuple(str(d) for d in range(10)),
                       Provenance.single(f"digits:{split}", index))


def load_photos(split: str, root: str) -> ImageArrays:
    """4,000 unlabeled 32x32 RGB crops (side 16-96 px, seed 0) of scikit-learn's two sample photos."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    photos = load_sample_images().images
    crops = np.empty((PHOTO_CROPS, 32, 32, 3), dtype=np.uint8)
    for i in range(PHOTO_CROPS):
        photo = photos[i % len(photos)]
        side = int(rng.integers(16, 97))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top:top + side, left:left + side])
        crops[i] = np.asarray(crop.resize((32, 32), Image.BOX))
    return ImageArrays(crops, np.full(PHOTO_CROPS, NO_LABEL, np.int64), (),
                       Provenance.single("photos", np.arange(PHOTO_CROPS)))


SOURCES: dict[str, Callable[[str, str], ImageArrays]] = {
    "digits": load_digits,
    "photos": load_photos,
}

# Per-channel normalisation (mean, std) on the 0-1 scale, fixed per dataset as in the original code.
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "digits": ((0.3057,), (0.3761,)),
    "photos": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


def load(name: str, split: str, root: str) -> ImageArrays:
    """Load ``split`` of source ``name`` (a SOURCES key) from ``root``."""
    if name not in SOURCES:
        raise DataError(f"data source {name!r} is unknown; registered: {', '.join(sorted(SOURCES))}")
    return SOURCES[name](split, root)


def match_shape(arrays: ImageArrays, shape: tuple[int, int, int]) -> ImageArrays:
    """Resize (area) and convert channels (luma or replication) so images have ``shape`` (H, W, C)."""
    if arrays.image_shape == shape:
        return arrays
    height, width, channels = shape
    x = torch.from_numpy(arrays.images).permute(0, 3, 1, 2).float()
    if x.shape[1] == 3 and channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != channels:
        raise DataError(f"cannot convert {x.shape[1]}-channel images of {arrays.provenance.sources} "
                        f"to {channels} channels")
    x = F.interpolate(x, size=(height, width), mode="area" if height <= x.shape[2] else "bilinear")
    images = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return ImageArrays(images, arrays.targets, arrays.classes, arrays.provenance)
