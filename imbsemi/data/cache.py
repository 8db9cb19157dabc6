"""Decode-once caches: arrays built from a source file are saved as .npy beside it and
memory-mapped afterwards, keyed by the source files' names, sizes and modification times."""
from __future__ import annotations

import hashlib
import mmap
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from imbsemi.io import atomic_write

CACHE_FOLDER = "imbsemi_cache"


def open_images(path: Path) -> np.ndarray:
    """Memory-map a uint8 image .npy read-only, for random access (pools gather scattered rows).

    Read-ahead is turned off: it would map the whole multi-GB file to read a few images per page.
    """
    images = np.load(path, mmap_mode="r")
    handle = getattr(images, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_RANDOM"):
        handle.madvise(mmap.MADV_RANDOM)
    return images


def _stamp(files: Sequence[Path], key: str) -> str:
    digest = hashlib.sha256(key.encode())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def cached_arrays(root: Path, key: str, files: Sequence[Path],
                  build: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(images memory-mapped read-only, targets in memory), built by ``build`` on the first call.

    Args:
        root: folder under which ``imbsemi_cache/`` is created.
        key: names the cached arrays (e.g. ``svhn-extra``).
        files: the source files; changing any of them rebuilds the cache.
        build: returns (uint8 images, int64 targets) decoded from ``files``.
    """
    stem = Path(root) / CACHE_FOLDER / f"{key}-{_stamp(files, key)}"
    images_path, targets_path = stem.with_suffix(".images.npy"), stem.with_suffix(".targets.npy")
    if not (images_path.is_file() and targets_path.is_file()):
        images, targets = build()
        for path, array in ((images_path, images), (targets_path, targets)):
            with atomic_write(path) as handle:
                np.save(handle, np.ascontiguousarray(array))
        del images, targets
    return open_images(images_path), np.load(targets_path)
