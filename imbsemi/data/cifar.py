"""CIFAR-10 / CIFAR-100 from the official python pickles (torchvision's file lists and md5 sums), or from
files in their format converted from another encoding, verified by the conversion's manifest instead."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10, CIFAR100
from torchvision.datasets.utils import check_integrity, download_and_extract_archive

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.errors import DataError
from imbsemi.io import read_json, read_pickle, sha256_file

SPLITS = ("train", "test")
# Written last by a conversion (cifar_jpeg): the source's name and the sha256 of each file, which replace
# torchvision's md5 sums (a re-encoding cannot match them).
SOURCE_MANIFEST = "imbsemi_source.json"


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


def conversion_manifest(folder: Path) -> dict | None:
    """The manifest of the conversion that wrote ``folder``, None for the official files."""
    path = folder / SOURCE_MANIFEST
    if not path.is_file():
        return None
    manifest = read_json(path)
    if not (isinstance(manifest, dict) and isinstance(manifest.get("name"), str)
            and isinstance(manifest.get("rerun"), str) and isinstance(manifest.get("files"), dict)):
        raise DataError(f"{path}: expected a conversion manifest with 'name', 'rerun' and 'files' (sha256 by file "
                        "name); run the conversion again")
    return manifest


def _verify(name: str, folder: Path, files: list[list[str]], conversion: dict | None) -> None:
    """Check each (file name, md5) of ``files`` against torchvision's md5, or the conversion's sha256."""
    for filename, md5 in files:
        path = folder / filename
        if conversion is None:
            if not check_integrity(str(path), md5):
                raise DataError(f"{name}: {path} is missing or corrupted (md5 expected {md5}); "
                                "download it again, or set data.verify: false for a file you made yourself")
            continue
        expected = conversion["files"].get(filename)
        if expected is None or not path.is_file() or sha256_file(path) != expected:
            raise DataError(f"{name}: {path} is missing or does not match {folder / SOURCE_MANIFEST} (sha256 "
                            f"expected {expected}); run the conversion again: {conversion['rerun']}")


def load_cifar(dataset: type[CIFAR10], name: str, split: str, root: str | Path, download: bool,
               verify: bool) -> ImageArrays:
    """One split of CIFAR-10 or CIFAR-100 as uint8 (N, 32, 32, 3) in the files' storage order; its source
    name is that of the conversion (``SOURCE_MANIFEST``) when the files were converted."""
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    folder = _fetch(dataset, Path(root), download)
    files = dataset.train_list if split == "train" else dataset.test_list
    conversion = conversion_manifest(folder)
    if verify:
        _verify(name, folder, [*files, [dataset.meta["filename"], dataset.meta["md5"]]], conversion)
    meta = read_pickle(folder / dataset.meta["filename"], "CIFAR meta")
    if not isinstance(meta, dict) or dataset.meta["key"] not in meta:
        raise DataError(f"CIFAR meta {folder / dataset.meta['filename']}: missing key {dataset.meta['key']!r}")
    classes = tuple(meta[dataset.meta["key"]])
    label_key = "labels" if dataset is CIFAR10 else "fine_labels"
    parts = [_read_batch(folder / filename, label_key, len(classes)) for filename, _ in files]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    targets = np.concatenate([p[1] for p in parts])
    # a converted source keeps its own name (e.g. cifar10-jpeg), so data manifests tell it from the official
    source = conversion["name"] if conversion else name
    return ImageArrays(images, targets, classes, Provenance.single(f"{source}:{split}", np.arange(len(targets))))


def load_cifar10(split: str, root: str, download: bool = False, verify: bool = True) -> ImageArrays:
    """CIFAR-10 ``train`` (50,000) or ``test`` (10,000) from ``root/cifar-10-batches-py``."""
    return load_cifar(CIFAR10, "cifar10", split, root, download, verify)


def load_cifar100(split: str, root: str, download: bool = False, verify: bool = True) -> ImageArrays:
    """CIFAR-100 (fine labels) ``train`` or ``test`` from ``root/cifar-100-python``."""
    return load_cifar(CIFAR100, "cifar100", split, root, download, verify)
