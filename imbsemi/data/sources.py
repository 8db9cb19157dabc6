"""Image sources in their real formats. Each loader returns ImageArrays for one split.

``digits`` (the default) is scikit-learn's 1,797 real 8x8 handwritten digits; no download.
``photos`` is the irrelevant source for digits: crops of the two photographs scikit-learn ships.
CIFAR, SVHN, Tiny-Images and folder trees have their own modules; ``npz`` reads arrays x, y.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from imbsemi.data.arrays import NO_LABEL, ImageArrays, Provenance
from imbsemi.data.cifar import load_cifar10, load_cifar100
from imbsemi.data.folder import load_folder
from imbsemi.data.svhn import load_svhn
from imbsemi.data.tinyimages import load_tinyimages
from imbsemi.errors import DataError
from imbsemi.io import read_npz
from imbsemi.registry import accepted_kwargs

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


def load_npz(split: str, root: str) -> ImageArrays:
    """``root/<split>.npz`` with ``x`` uint8 (N, H, W, C), ``y`` int (N,) and optionally ``classes``."""
    path = Path(root) / f"{split}.npz"
    content = read_npz(path, "npz dataset")
    for key in ("x", "y"):
        if key not in content:
            raise DataError(f"npz dataset {path}: missing array {key!r}; found {sorted(content)}")
    images, targets = content["x"], content["y"]
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"npz dataset {path}: x must be uint8 of shape (N, H, W, C), got {images.dtype} {images.shape}")
    if targets.shape != (len(images),) or targets.dtype.kind not in "iu":
        raise DataError(f"npz dataset {path}: y must hold {len(images)} integers, got {targets.dtype} {targets.shape}")
    num_classes = int(targets.max()) + 1 if len(targets) else 0
    classes = tuple(str(c) for c in content.get("classes", range(num_classes)))
    if len(targets) and (targets.min() < 0 or targets.max() >= len(classes)):
        raise DataError(f"npz dataset {path}: y must be in [0, {len(classes) - 1}], "
                        f"got [{targets.min()}, {targets.max()}]")
    return ImageArrays(images, targets.astype(np.int64), classes,
                       Provenance.single(f"npz:{path}", np.arange(len(targets))))


@dataclass(frozen=True)
class SourceInfo:
    """What the method needs to know of a source beyond its images.

    Attributes:
        load: ``(split, root, **options) -> ImageArrays``.
        mean, std: per-channel normalisation on the 0-1 scale (None: computed from the labeled set).
        n_max: labeled images of the head class by default (None: the largest the training images allow).
        head_to_tail: labels from the head class to the tail class (None: label order).
    """
    load: Callable[..., ImageArrays]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    n_max: float | None = None
    head_to_tail: tuple[int, ...] | None = None


CIFAR_STATS = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

SOURCES: dict[str, SourceInfo] = {
    "digits": SourceInfo(load_digits, (0.3057,), (0.3761,)),
    "photos": SourceInfo(load_photos, *HALF),
    "cifar10": SourceInfo(load_cifar10, *CIFAR_STATS),
    "cifar100": SourceInfo(load_cifar100, *CIFAR_STATS),
    # The original hard-codes 1,000 head images for SVHN and puts digit 1 at the head, 0 at the tail.
    "svhn": SourceInfo(load_svhn, *HALF, n_max=1000, head_to_tail=(1, 2, 3, 4, 5, 6, 7, 8, 9, 0)),
    "tinyimages": SourceInfo(load_tinyimages, *CIFAR_STATS),
    "folder": SourceInfo(load_folder),
    "npz": SourceInfo(load_npz),
}


def info(name: str) -> SourceInfo:
    """The SourceInfo of ``name``, or a DataError listing the registered names."""
    if name not in SOURCES:
        raise DataError(f"data source {name!r} is unknown; registered: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def accepted_options(name: str) -> list[str]:
    """The loader options (e.g. download, verify, image_size) that source ``name`` reads."""
    return [k for k in accepted_kwargs(info(name).load) if k not in ("split", "root")]


def load(name: str, split: str, root: str, **options: Any) -> ImageArrays:
    """Load ``split`` of source ``name`` from ``root``; an option the loader does not read is an error."""
    accepted = accepted_options(name)
    unused = sorted(set(options) - set(accepted))
    if unused:
        raise DataError(f"data source {name!r} does not read {', '.join(unused)}; "
                        f"its options: {', '.join(accepted) or '(none)'}")
    return info(name).load(split, root, **options)


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
