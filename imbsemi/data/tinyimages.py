"""The 500K Tiny-Images subset of the paper (``ti_80M_selected.pickle``: ``data`` uint8
(N, 32, 32, 3), ``extrapolated_targets`` (N,) in 0..9), converted once to memory-mapped .npy."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.cache import cached_arrays
from imbsemi.errors import DataError
from imbsemi.io import read_pickle

FILENAME = "ti_80M_selected.pickle"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def read_tinyimages(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Validated (images, reference labels) of the Tiny-Images pickle."""
    content = read_pickle(path, "Tiny-Images")
    if not isinstance(content, dict):
        raise DataError(f"Tiny-Images file {path}: expected a dict, got {type(content).__name__}")
    for key in ("data", "extrapolated_targets"):
        if key not in content:
            raise DataError(f"Tiny-Images file {path}: missing key {key!r}; found {sorted(content)}")
    images, targets = content["data"], np.asarray(content["extrapolated_targets"])
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"Tiny-Images file {path}: key 'data' must be uint8 of shape (N, 32, 32, 3), "
                        f"got {getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', None)}")
    if targets.shape != (len(images),) or targets.dtype.kind not in "iu":
        raise DataError(f"Tiny-Images file {path}: key 'extrapolated_targets' must hold {len(images)} "
                        f"integers, got {targets.dtype} {targets.shape}")
    if len(targets) and (targets.min() < 0 or targets.max() > 9):
        raise DataError(f"Tiny-Images file {path}: extrapolated_targets must be in [0, 9], "
                        f"got [{targets.min()}, {targets.max()}]")
    return images, targets.astype(np.int64)


def load_tinyimages(split: str, root: str) -> ImageArrays:
    """``root/ti_80M_selected.pickle``; its ``extrapolated_targets`` are the reference labels."""
    if split != "train":
        raise DataError(f"tinyimages: unknown split {split!r}; it has only 'train'")
    path = Path(root) / FILENAME
    if not path.is_file():
        raise DataError(f"tinyimages: {path} does not exist; the 500K subset of the paper is user-supplied "
                        "(see data_prep/README.md)")
    images, targets = cached_arrays(Path(root), "tinyimages", [path], lambda: read_tinyimages(path))
    return ImageArrays(images, targets, CIFAR10_CLASSES, Provenance.single("tinyimages", np.arange(len(targets))))
