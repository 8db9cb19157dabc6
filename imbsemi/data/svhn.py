"""SVHN train / test / extra from the official .mat files (torchvision's file names and md5 sums),
decoded once into a memory-mapped cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets import SVHN
from torchvision.datasets.utils import check_integrity, download_url

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.cache import cached_arrays
from imbsemi.errors import DataError

CLASSES = tuple(str(d) for d in range(10))


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N, 32, 32, 3), int64 labels with 10 -> 0) from an SVHN .mat file."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises ValueError, OSError, MatReadError, ... for damaged files
        raise DataError(f"SVHN file {path} is truncated or not a .mat file: {err!r}") from err
    for key in ("X", "y"):
        if key not in mat:
            raise DataError(f"SVHN file {path}: missing key {key!r}; found {sorted(k for k in mat if k[0] != '_')}")
    images, labels = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[:3] != (32, 32, 3):
        raise DataError(f"SVHN file {path}: key 'X' must be uint8 of shape (32, 32, 3, N), "
                        f"got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[3],) or labels.dtype.kind not in "iuf":
        raise DataError(f"SVHN file {path}: key 'y' must hold {images.shape[3]} labels, got {labels.shape}")
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 1 or labels.max() > 10):
        raise DataError(f"SVHN file {path}: labels must be in [1, 10], got [{labels.min()}, {labels.max()}]")
    labels[labels == 10] = 0
    return images.transpose(3, 0, 1, 2), labels


def load_svhn(split: str, root: str, download: bool = False, verify: bool = True) -> ImageArrays:
    """SVHN ``train`` (73,257), ``test`` (26,032) or ``extra`` (531,131) as uint8 (N, 32, 32, 3)."""
    if split not in SVHN.split_list:
        raise DataError(f"svhn: unknown split {split!r}; expected one of {', '.join(SVHN.split_list)}")
    url, filename, md5 = SVHN.split_list[split]
    path = Path(root) / filename
    if not path.is_file():
        if not download:
            raise DataError(f"svhn: {path} does not exist; run `python data_prep/download.py svhn --root {root}` "
                            "or set data.download: true")
        try:
            download_url(url, str(root), filename, md5)
        except Exception as err:
            raise DataError(f"cannot download {url} into {root}: {err}") from err
    if verify and not check_integrity(str(path), md5):
        raise DataError(f"svhn: {path} is corrupted (md5 expected {md5}); download it again, "
                        "or set data.verify: false for a file you made yourself")
    images, targets = cached_arrays(Path(root), f"svhn-{split}", [path], lambda: read_mat(path))
    return ImageArrays(images, targets, CLASSES, Provenance.single(f"svhn:{split}", np.arange(len(targets))))
