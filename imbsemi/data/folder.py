"""A user's ImageFolder tree (``root/<split>/<class>/<image>``), decoded and resized once into a
memory-mapped uint8 cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.cache import cached_arrays
from imbsemi.errors import DataError


def _decode(samples: list[tuple[str, int]], image_size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images = np.empty((len(samples), image_size, image_size, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as image:
                images[i] = np.asarray(image.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
        except (OSError, UnidentifiedImageError) as err:
            raise DataError(f"folder image {path} cannot be decoded: {err}") from err
    return images, np.array([label for _, label in samples], dtype=np.int64)


def load_folder(split: str, root: str, image_size: int = 32) -> ImageArrays:
    """Images of ``root/<split>/<class>/*`` resized to ``image_size`` (RGB); classes sorted by name."""
    from torchvision.datasets import ImageFolder

    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"folder dataset: {folder} does not exist; expected {root}/{split}/<class>/<image files>")
    try:
        tree = ImageFolder(str(folder))
    except FileNotFoundError as err:  # no class folders, or a class folder without images
        raise DataError(f"folder dataset {folder}: {err}; every class folder needs at least one image") from err
    files = [Path(path) for path, _ in tree.samples]
    images, targets = cached_arrays(Path(root), f"folder-{split}-{image_size}px", files,
                                    lambda: _decode(tree.samples, image_size))
    index = np.arange(len(targets))
    return ImageArrays(images, targets, tuple(tree.classes), Provenance.single(f"folder:{folder}", index))
