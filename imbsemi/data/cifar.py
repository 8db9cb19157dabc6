"""CIFAR-10 / CIFAR-100 from the official python pickles (torchvision's file lists and md5 sums)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10, CIFAR100
from torchvision.datasets.utils import check_integrity, download_and_extract_archive

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.errors import DataError
from imbsemi.io import read_pickle

SPLITS = ("train", "test")


def _fetch(dataset: type[CIFAR10], root: Path, download: bool) -> Path:
    folder = root / dataset.base_folder
    if folder.is_dir() or not download:
        if not folder.is_dir():
            raise DataError(f"{dataset.__name__} not found: {folder} does not exist; run "
                            f"`python data_prep/download.py {dataset.__name__.lower()} --root {root}` "
                            "or set data.download: true")
        return folder
    try:
        download_and_extract_archive(dataset.url, str(root), filename=dataset.filename, md5=dataset.tgz_md5)
    except Exception as err:  # URLError, HTTPError, md5 mismatch, ...
        raise DataError(f"cannot download {dataset.url} into {root}: {err}") from err
    return folder


def _read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle(path, "CIFAR batch")
    if not isinstance(batch, dict):
        raise DataError(f"CIFAR batch {path}: expected a dict, got {type(batch).__name__}")
    for key in ("data", label_key):
        if key not in batch:
            raise DataError(f"CIFAR batch {path}: missing key {key!r}; found {sorted(batch)}")
    data, labels = batch["data"], np.asarray(batch[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"CIFAR batch {path}: key 'data' must be uint8 of shape (N, 3072), "
                        f"got {getattr(data, 'dtype', type(data).__name__)} {shape}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise DataError(f"CIFAR batch {path}: key {label_key!r} must hold {len(data)} integers, got {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"CIFAR batch {path}: labels must be in [0, {num_classes - 1}], "
                        f"got [{labels.min()}, {labels.max()}]")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int64)


def load_cifar(dataset: type[CIFAR10], name: str, split: str, root: str | Path, download: bool,
               verify: bool) -> ImageArrays:
    """One split of CIFAR-10 or CIFAR-100 as uint8 (N, 32, 32, 3) in the files' storage order."""
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    folder = _fetch(dataset, Path(root), download)
    files = dataset.train_list if split == "train" else dataset.test_list
    if verify:
        for filename, md5 in [*files, [dataset.meta["filename"], dataset.meta["md5"]]]:
            if not check_integrity(str(folder / filename), md5):
                raise DataError(f"{name}: {folder / filename} is missing or corrupted (md5 expected {md5}); "
                                "download it again, or set data.verify: false for a file you made yourself")
    meta = read_pickle(folder / dataset.meta["filename"], "CIFAR meta")
    if not isinstance(meta, dict) or dataset.meta["key"] not in meta:
        raise DataError(f"CIFAR meta {folder / dataset.meta['filename']}: missing key {dataset.meta['key']!r}")
    classes = tuple(meta[dataset.meta["key"]])
    label_key = "labels" if dataset is CIFAR10 else "fine_labels"
    parts = [_read_batch(folder / filename, label_key, len(classes)) for filename, _ in files]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    targets = np.concatenate([p[1] for p in parts])
    return ImageArrays(images, targets, classes, Provenance.single(f"{name}:{split}", np.arange(len(targets))))


def load_cifar10(split: str, root: str, download: bool = False, verify: bool = True) -> ImageArrays:
    """CIFAR-10 ``train`` (50,000) or ``test`` (10,000) from ``root/cifar-10-batches-py``."""
    return load_cifar(CIFAR10, "cifar10", split, root, download, verify)


def load_cifar100(split: str, root: str, download: bool = False, verify: bool = True) -> ImageArrays:
    """CIFAR-100 (fine labels) ``train`` or ``test`` from ``root/cifar-100-python``."""
    return load_cifar(CIFAR100, "cifar100", split, root, download, verify)
