"""Readers of the split files that define the large long-tailed benchmarks, read as they are:

- the ImageNet-LT / Places-LT / iNaturalist-2018 text lists (``ImageNet_LT_train.txt``: one
  ``<path relative to the image root> <integer label>`` per line);
- iNaturalist 2018's official JSON annotations (``train2018.json``: ``images`` with ``id`` and
  ``file_name``, ``annotations`` with ``image_id`` and ``category_id``, ``categories`` with ``id``
  and ``name``); labels are the category ids' ranks, which are the ids themselves in iNat 2018.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imbsemi.data.files import ImageFiles
from imbsemi.errors import DataError
from imbsemi.io import read_json


def read_split(path: Path, root: Path, classes: tuple[str, ...] | None = None) -> ImageFiles:
    """The images a split file lists (format by suffix: ``.txt`` or ``.json``), under ``root``.

    Args:
        classes: the training split's class names, which other splits must keep to (None: this is
            the training split; a text list's classes are then ``0 .. max label``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {path} does not exist")
    if path.suffix == ".json":
        return _read_json(path, root, classes)
    if path.suffix == ".txt":
        return _read_txt(path, root, classes)
    raise DataError(f"split file {path}: expected a .txt list or an iNaturalist-style .json annotation file")


def _read_txt(path: Path, root: Path, classes: tuple[str, ...] | None) -> ImageFiles:
    paths, labels, lines = [], [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise DataError(f"{path} line {number}: expected '<relative image path> <integer label>', "
                                f"got {line.strip()!r}")
            label = int(parts[1])
            if label < 0 or (classes is not None and label >= len(classes)):
                allowed = "a label >= 0" if classes is None else f"a label in [0, {len(classes) - 1}] (the classes "\
                                                                  "of the training split)"
                raise DataError(f"{path} line {number}: label {label}; expected {allowed}")
            paths.append(parts[0])
            labels.append(label)
            lines.append(number)
    if not paths:
        raise DataError(f"split file {path} lists no image")
    if classes is None:
        classes = tuple(str(label) for label in range(max(labels) + 1))
    return ImageFiles(root, np.array(paths), np.array(labels, dtype=np.int64), classes, str(path),
                      np.array(lines, dtype=np.int64))


def _entries(content: Any, path: Path, key: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    entries = content.get(key) if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a JSON object with a list {key!r} (iNaturalist 2018 annotation format)")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or any(field not in entry for field in fields):
            raise DataError(f"{path}: {key} entry {number} must have {', '.join(fields)}; got {entry!r}"[:300])
    return entries


def _read_json(path: Path, root: Path, classes: tuple[str, ...] | None) -> ImageFiles:
    content = read_json(path)
    images = _entries(content, path, "images", ("id", "file_name"))
    annotations = _entries(content, path, "annotations", ("image_id", "category_id"))
    categories = sorted(_entries(content, path, "categories", ("id", "name")), key=lambda c: c["id"])
    rank = {category["id"]: index for index, category in enumerate(categories)}
    names = tuple(str(category["name"]) for category in categories)
    if classes is not None and names != classes:
        raise DataError(f"{path}: its {len(names)} categories differ from the training split's {len(classes)}")
    label_of: dict[Any, int] = {}
    for number, annotation in enumerate(annotations, start=1):
        if annotation["category_id"] not in rank:
            raise DataError(f"{path}: annotation {number} has category_id {annotation['category_id']!r}, "
                            "which is not among the categories")
        if annotation["image_id"] in label_of:
            raise DataError(f"{path}: annotation {number}: image {annotation['image_id']!r} has a second label")
        label_of[annotation["image_id"]] = rank[annotation["category_id"]]
    unlabeled = [number for number, image in enumerate(images, start=1) if image["id"] not in label_of]
    if unlabeled:
        raise DataError(f"{path}: images entry {unlabeled[0]} (id {images[unlabeled[0] - 1]['id']!r}) has no "
                        f"annotation ({len(unlabeled)} in all); a split for training or evaluation needs labels")
    if not images:
        raise DataError(f"split file {path} lists no image")
    return ImageFiles(root, np.array([image["file_name"] for image in images]),
                      np.array([label_of[image["id"]] for image in images], dtype=np.int64), names, str(path),
                      np.arange(1, len(images) + 1, dtype=np.int64), unit="images entry")
