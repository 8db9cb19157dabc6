"""ImageFiles: images that stay on disk (JPEG/PNG files under a root), decoded when served: the data
currency of datasets too large for memory (ImageNet-LT, iNaturalist 2018)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from imbsemi.data.arrays import count_labels, labels_outside
from imbsemi.errors import DataError
from imbsemi.io import sha256_arrays


@dataclass(frozen=True)
class FileRecipe:
    """How split-file images are served (the ImageNet recipes of Kang et al. and the original code): the
    ``data.augment`` settings of split-file sources, which ``recipe.training_recipe`` turns into the
    training augmentation (random resized crop to ``crop_size``, flip, colour jitter); evaluation resize
    of the shorter side to ``resize`` + centre crop; JPEG decoding in ``workers`` DataLoader processes."""
    crop_size: int = 224
    resize: int = 256
    min_scale: float = 0.08
    color_jitter: float = 0.4
    flip: bool = True
    workers: int = 4


@dataclass(frozen=True)
class ImageFiles:
    """Image files ``root / paths[i]`` with int64 targets (N,), class names, the split file they were
    listed in (``lines[i]``: the 1-based ``unit`` (line, or images entry) of image i there, for error
    messages) and how they are served (``recipe``)."""
    root: Path
    paths: np.ndarray
    targets: np.ndarray
    classes: tuple[str, ...]
    listing: str
    lines: np.ndarray
    unit: str = "line"
    recipe: FileRecipe = FileRecipe()

    def __post_init__(self) -> None:
        n = len(self.paths)
        if self.targets.shape != (n,) or self.lines.shape != (n,):
            raise DataError(f"{self.listing}: expected {n} targets and line numbers")
        outside = labels_outside(self.targets, len(self.classes))
        if outside:
            raise DataError(f"{self.listing}: labels must be in [0, {len(self.classes) - 1}], "
                            f"got [{outside[0]}, {outside[1]}]")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of a served image: decoded as RGB and cropped to the recipe's size."""
        return (self.recipe.crop_size, self.recipe.crop_size, 3)

    def path(self, index: int) -> Path:
        return self.root / str(self.paths[index])

    def subset(self, indices: np.ndarray) -> "ImageFiles":
        """The files at ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        return replace(self, paths=self.paths[indices], targets=self.targets[indices], lines=self.lines[indices])

    def class_counts(self) -> list[int]:
        """Images per class, in label order."""
        return count_labels(self.targets, self.num_classes)

    def fingerprint(self) -> str:
        """Hash of the paths and targets: equal iff the same files in the same order."""
        return sha256_arrays("\n".join(map(str, self.paths)), self.targets)

    def check_exist(self) -> None:
        """Raise a DataError naming the split file, line and path of the first missing image."""
        missing = [i for i in range(len(self)) if not self.path(i).is_file()]
        if missing:
            first = missing[0]
            raise DataError(f"{self.listing} {self.unit} {self.lines[first]}: image {self.path(first)} does not exist"
                            + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""))
