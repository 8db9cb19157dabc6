"""Writers of miniature data files in the exact on-disk formats imbsemi reads."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np


def images_for(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random uint8 (N, 32, 32, 3) images whose mean brightness encodes the label (learnable)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, size=(len(labels), 32, 32, 3))
    return (base + 18 * np.asarray(labels).reshape(-1, 1, 1, 1)).astype(np.uint8)


def _dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def write_cifar10(root: Path, train_per_class: int, test_per_class: int) -> None:
    """``root/cifar-10-batches-py``: data_batch_1..5, test_batch, batches.meta (real keys)."""
    folder = root / "cifar-10-batches-py"
    labels = np.tile(np.arange(10), train_per_class)
    for i, chunk in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        _dump(folder / f"data_batch_{i}", {
            "batch_label": f"training batch {i} of 5", "labels": labels[chunk].tolist(),
            "data": images_for(labels[chunk], i).transpose(0, 3, 1, 2).reshape(len(chunk), 3072),
            "filenames": [f"img_{j}.png" for j in chunk]})
    test_labels = np.tile(np.arange(10), test_per_class)
    _dump(folder / "test_batch", {
        "batch_label": "testing batch 1 of 1", "labels": test_labels.tolist(),
        "data": images_for(test_labels, 9).transpose(0, 3, 1, 2).reshape(len(test_labels), 3072),
        "filenames": [f"test_{j}.png" for j in range(len(test_labels))]})
    _dump(folder / "batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                    "frog", "horse", "ship", "truck"],
                                    "num_cases_per_batch": 10000, "num_vis": 3072})


def write_cifar100(root: Path, train_per_class: int, test_per_class: int) -> None:
    """``root/cifar-100-python``: train, test, meta with fine and coarse labels."""
    folder = root / "cifar-100-python"
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        fine = np.tile(np.arange(100), per_class)
        _dump(folder / split, {"filenames": [f"{split}_{j}.png" for j in range(len(fine))],
                               "batch_label": split, "fine_labels": fine.tolist(),
                               "coarse_labels": (fine // 5).tolist(),
                               "data": images_for(fine % 10, 3).transpose(0, 3, 1, 2).reshape(len(fine), 3072)})
    _dump(folder / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                            "coarse_label_names": [f"coarse{i}" for i in range(20)]})


def write_svhn(root: Path, split: str, per_class: int) -> None:
    """``root/<split>_32x32.mat``: X uint8 (32, 32, 3, N), y (N, 1) with 10 for digit 0."""
    import scipy.io

    labels = np.tile(np.arange(10), per_class)
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(root / f"{split}_32x32.mat"),
                     {"X": images_for(labels, 5).transpose(1, 2, 3, 0),
                      "y": np.where(labels == 0, 10, labels).astype(np.uint8).reshape(-1, 1)})


def write_tinyimages(root: Path, per_class: int) -> None:
    """``root/ti_80M_selected.pickle``: data (N, 32, 32, 3) uint8, extrapolated_targets, ti_index."""
    targets = np.repeat(np.arange(10), per_class)  # sorted by class, as the released file
    _dump(root / "ti_80M_selected.pickle", {"data": images_for(targets, 7), "extrapolated_targets": targets,
                                            "ti_index": np.arange(len(targets)) * 7})


def write_folder(root: Path, split: str, per_class: dict[str, int], size: int = 20) -> None:
    """``root/<split>/<class>/<i>.png`` RGB PNGs of ``size`` pixels."""
    from PIL import Image

    for label, (name, count) in enumerate(per_class.items()):
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = np.full((size, size, 3), 20 * label + i, dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")


def write_split_files(root: Path, counts: dict[str, list[int]], size: int = 36, prefix: str = "ImageNet_LT") -> None:
    """A miniature ImageNet-LT / iNaturalist-2018 tree: ``root/<split>/c<label>/<i>.jpg`` (RGB JPEGs whose
    brightness codes the label), listed in both split-file formats: ``<prefix>_<split>.txt`` lines
    ``<split>/c<label>/<i>.jpg <label>`` and iNat-style ``<split>2018.json`` annotations."""
    from PIL import Image

    rng = np.random.default_rng(0)
    categories = [{"id": label, "name": f"species {label}", "supercategory": "Plantae"}
                  for label in range(len(next(iter(counts.values()))))]
    for split, per_class in counts.items():
        lines, images, annotations = [], [], []
        for label, count in enumerate(per_class):
            for i in range(count):
                relative = f"{split}/c{label}/{i}.jpg"
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 40, size=(size, size, 3)) + 50 * label
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / relative, quality=90)
                lines.append(f"{relative} {label}\n")
                images.append({"id": len(images) + 1, "file_name": relative, "width": size, "height": size})
                annotations.append({"id": len(annotations) + 1, "image_id": images[-1]["id"], "category_id": label})
        (root / f"{prefix}_{split}.txt").write_text("".join(lines))
        (root / f"{split}2018.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                             "categories": categories}))


def write_jpeg_tree(tree: Path, classes: tuple[str, ...] | None = None, train: int = 7, test: int = 3) -> None:
    """CIFAR-10's JPEG layout ``tree/<split>/<class>/NNNN.jpg``: ``train`` / ``test`` random 32x32 RGB JPEGs
    per class, the class folders made in the order of ``classes`` (default: CIFAR-10's)."""
    from PIL import Image

    from imbsemi.data.cifar_jpeg import CLASSES

    for split, count in (("train", train), ("test", test)):
        for name in classes or CLASSES:
            (tree / split / name).mkdir(parents=True)
            label = CLASSES.index(name)
            for i, pixels in enumerate(images_for(np.full(count, label), seed=label)):
                Image.fromarray(pixels).save(tree / split / name / f"{i:04d}.jpg", quality=90)
