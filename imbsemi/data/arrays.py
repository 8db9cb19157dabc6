"""ImageArrays: the one data currency (uint8 NHWC images + targets + provenance)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from imbsemi.errors import DataError
from imbsemi.io import sha256_arrays

NO_LABEL = -1  # target of an image with no reference label (irrelevant pool images)


def labels_outside(targets: np.ndarray, num_classes: int) -> tuple[int, int] | None:
    """(min, max) of the labels in ``targets`` (NO_LABEL aside) when one is outside [0, num_classes)."""
    labeled = targets[targets != NO_LABEL]
    if len(labeled) and (labeled.min() < 0 or labeled.max() >= num_classes):
        return int(labeled.min()), int(labeled.max())
    return None


def count_labels(targets: np.ndarray, num_classes: int) -> list[int]:
    """Images per class of ``targets``, in label order (NO_LABEL not counted)."""
    return np.bincount(targets[targets != NO_LABEL], minlength=num_classes).tolist()


@dataclass(frozen=True)
class Provenance:
    """Where each image came from: ``sources[source_id[i]]`` and its ``index[i]`` in that source."""
    sources: tuple[str, ...]
    source_id: np.ndarray
    index: np.ndarray

    @classmethod
    def single(cls, source: str, index: np.ndarray) -> "Provenance":
        index = np.asarray(index, dtype=np.int64)
        return cls((source,), np.zeros(len(index), dtype=np.int64), index)


@dataclass(frozen=True)
class ImageArrays:
    """uint8 images (N, H, W, C), int64 targets (N,) with -1 for unlabeled, class names, provenance."""
    images: np.ndarray
    targets: np.ndarray
    classes: tuple[str, ...]
    provenance: Provenance

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise DataError(f"images of {self.provenance.sources}: expected uint8 (N, H, W, C), "
                            f"got {self.images.dtype} {self.images.shape}")
        n = len(self.images)
        for name in ("targets",):
            array = getattr(self, name)
            if array.shape != (n,):
                raise DataError(f"{name} of {self.provenance.sources}: expected shape ({n},), got {array.shape}")
        if len(self.provenance.index) != n or len(self.provenance.source_id) != n:
            raise DataError(f"provenance of {self.provenance.sources}: expected {n} entries")
        outside = labels_outside(self.targets, max(len(self.classes), 1))
        if outside:
            raise DataError(f"targets of {self.provenance.sources}: expected values in "
                            f"[0, {len(self.classes) - 1}] or {NO_LABEL}, got [{outside[0]}, {outside[1]}]")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, indices: np.ndarray) -> "ImageArrays":
        """The images at ``indices`` (a copy), with their provenance."""
        indices = np.asarray(indices, dtype=np.int64)
        prov = self.provenance
        return ImageArrays(self.images[indices], self.targets[indices], self.classes,
                           Provenance(prov.sources, prov.source_id[indices], prov.index[indices]))

    def with_targets(self, targets: np.ndarray) -> "ImageArrays":
        """The same images with other targets (e.g. pseudo-labels)."""
        return replace(self, targets=np.asarray(targets, dtype=np.int64))

    def class_counts(self) -> list[int]:
        """Images per class, in label order (unlabeled images not counted)."""
        return count_labels(self.targets, self.num_classes)

    def fingerprint(self) -> str:
        """Hash of the provenance and targets: equal iff the same images in the same order."""
        prov = self.provenance
        return sha256_arrays("|".join(prov.sources), prov.source_id, prov.index, self.targets)


def gather(parts: list[tuple[ImageArrays, np.ndarray]], classes: tuple[str, ...],
           targets: np.ndarray | None = None) -> ImageArrays:
    """The images at ``indices`` of each (set, indices) part, copied once into one array.

    Args:
        parts: sets sharing one image shape (memory-mapped sets are read only at those indices).
        classes: class names of the result.
        targets: the result's targets (default: each part's own).
    """
    shape = parts[0][0].image_shape
    total = sum(len(index) for _, index in parts)
    images = np.empty((total, *shape), dtype=np.uint8)
    sources: list[str] = []
    source_ids, indices, own_targets = [], [], []
    offset = 0
    for arrays, index in parts:
        if arrays.image_shape != shape:
            raise DataError(f"cannot combine images of shape {arrays.image_shape} "
                            f"({arrays.provenance.sources}) with {shape}")
        index = np.asarray(index, dtype=np.int64)
        # mode="clip" writes straight into the output (mode="raise" buffers a second copy); indices are valid
        np.take(arrays.images, index, axis=0, out=images[offset:offset + len(index)], mode="clip")
        offset += len(index)
        remap = []
        for name in arrays.provenance.sources:
            if name not in sources:
                sources.append(name)
            remap.append(sources.index(name))
        source_ids.append(np.asarray(remap, dtype=np.int64)[arrays.provenance.source_id[index]])
        indices.append(arrays.provenance.index[index])
        own_targets.append(arrays.targets[index])
    return ImageArrays(images, np.concatenate(own_targets) if targets is None else targets, classes,
                       Provenance(tuple(sources), np.concatenate(source_ids), np.concatenate(indices)))


def concat(parts: list[ImageArrays]) -> ImageArrays:
    """Concatenate sets that share image shape; provenance source tables are merged."""
    classes = max((p.classes for p in parts), key=len)
    return gather([(p, np.arange(len(p))) for p in parts], classes)
