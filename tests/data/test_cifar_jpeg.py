"""CIFAR-10's JPEG re-encoding (train/<class>/NNNN.jpg, test/<class>/NNNN.jpg) converted into the official
python pickles: format, pixels, provenance, verification, the pack route and bad inputs."""
from __future__ import annotations

import errno
import pickle
import runpy
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from formats import write_jpeg_tree
from imbsemi.config import FinetuneConfig
from imbsemi.data import cifar_jpeg
from imbsemi.data.cifar import load_cifar10
from imbsemi.data.cifar_jpeg import CLASSES, convert_jpeg_cifar10
from imbsemi.errors import DataError, DiskFullError
from imbsemi.io import read_json, sha256_arrays, sha256_file
from imbsemi.stages.build import make_splits

FOLDER = "cifar-10-batches-py"
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
PICKLES = [*BATCHES, "batches.meta"]
PER_CLASS = {"train": 7, "test": 3}


def unpickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def listing(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones included) by relative path, with its bytes."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("CIFAR-10-images")
    write_jpeg_tree(tree)
    return tree


@pytest.fixture(scope="module")
def root(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    convert_jpeg_cifar10(tree, root)
    return root


def test_conversion_writes_the_official_format(root: Path) -> None:
    assert [path.name for path in root.iterdir()] == [FOLDER]  # nothing left beside it
    folder = root / FOLDER
    assert sorted(path.name for path in folder.iterdir()) == sorted([*PICKLES, "imbsemi_source.json"])
    for name in BATCHES:
        batch = unpickle(folder / name)
        assert sorted(batch) == ["batch_label", "data", "filenames", "labels"]
        size = 14 if name != "test_batch" else 30  # 70 training images over 5 batches
        assert batch["data"].dtype == np.uint8 and batch["data"].shape == (size, 3072)
        assert len(batch["labels"]) == len(batch["filenames"]) == size
        assert all(type(label) is int for label in batch["labels"])
    first = unpickle(folder / "data_batch_1")
    assert first["batch_label"] == "training batch 1 of 5"
    assert unpickle(folder / "test_batch")["batch_label"] == "testing batch 1 of 1"
    # classes interleaved, each by file number
    assert first["filenames"][:11] == [f"train/{name}/0000.jpg" for name in CLASSES] + ["train/airplane/0001.jpg"]
    assert first["labels"][:11] == [*range(10), 0]
    assert unpickle(folder / "batches.meta") == {"label_names": list(CLASSES), "num_cases_per_batch": 14,
                                                 "num_vis": 3072}
    manifest = read_json(folder / "imbsemi_source.json")
    assert manifest["name"] == "cifar10-jpeg" and "lossy" in manifest["encoding"]
    assert manifest["files"] == {name: sha256_file(folder / name) for name in PICKLES}
    assert manifest["splits"]["test"]["class_counts"] == [3] * 10


def test_loads_the_pixels_pil_decodes(tree: Path, root: Path) -> None:
    manifest = read_json(root / FOLDER / "imbsemi_source.json")
    for split, files in (("train", BATCHES[:5]), ("test", BATCHES[5:])):
        arrays = load_cifar10(split, str(root), verify=True)
        names = [name for file in files for name in unpickle(root / FOLDER / file)["filenames"]]
        expected = np.stack([np.asarray(Image.open(tree / name).convert("RGB")) for name in names])
        assert np.array_equal(arrays.images, expected)
        assert arrays.targets.tolist() == [CLASSES.index(name.split("/")[1]) for name in names]
        assert arrays.class_counts() == [PER_CLASS[split]] * 10 and arrays.classes == CLASSES
        assert arrays.provenance.sources == (f"cifar10-jpeg:{split}",)
        assert sha256_arrays(arrays.images) == manifest["splits"][split]["pixels_sha256"]


def test_the_pack_route_gives_bit_identical_files(tree: Path, root: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    convert = runpy.run_path(str(ROOT / "data_prep" / "convert_cifar10_jpeg.py"))["main"]
    pack = tmp_path / "cifar10_jpeg.npz"
    assert convert([str(tree), "--pack", str(pack)]) == 0
    assert convert([str(pack), "--root", str(tmp_path / "data")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cifar10 JPEG pack: 70 train + 30 test images in")
    assert lines[1].startswith("cifar10 (JPEG re-encoding): 70 train + 30 test images in")
    for name in PICKLES:
        assert (tmp_path / "data" / FOLDER / name).read_bytes() == (root / FOLDER / name).read_bytes()
    source = read_json(tmp_path / "data" / FOLDER / "imbsemi_source.json")["source"]
    assert source == {"pack": str(pack), "sha256": sha256_file(pack)}


def test_labels_follow_cifar10_order_not_the_order_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_jpeg_tree(tmp_path / "tree", classes=CLASSES[::-1])
    listed = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(sorted(listed(self), reverse=True)))
    convert_jpeg_cifar10(tmp_path / "tree", tmp_path / "data")
    batch = unpickle(tmp_path / "data" / FOLDER / "data_batch_1")
    assert batch["labels"] == [CLASSES.index(name.split("/")[1]) for name in batch["filenames"]]
    assert batch["labels"][:10] == list(range(10))


def test_a_changed_or_missing_file_fails_verification(root: Path, tmp_path: Path) -> None:
    shutil.copytree(root, tmp_path, dirs_exist_ok=True)
    batch = tmp_path / FOLDER / "data_batch_3"
    content = bytearray(batch.read_bytes())
    content[-100] ^= 1  # one pixel bit: the file still unpickles
    batch.write_bytes(bytes(content))
    with pytest.raises(DataError, match=f"{batch} is missing or does not match .*run the conversion again"):
        load_cifar10("train", str(tmp_path), verify=True)
    assert len(load_cifar10("train", str(tmp_path), verify=False)) == 70
    (tmp_path / FOLDER / "test_batch").unlink()
    with pytest.raises(DataError, match=f"{tmp_path / FOLDER / 'test_batch'} is missing or does not match"):
        load_cifar10("test", str(tmp_path), verify=True)


def _save(path: Path, size: tuple[int, int] = (32, 32), mode: str = "RGB", kind: str = "JPEG") -> None:
    Image.new(mode, size, 128).save(path, kind)


BAD_TREES: dict[str, tuple[Callable[[Path], object], str, str]] = {
    "empty tree": (lambda t: [shutil.rmtree(t / split) for split in PER_CLASS], "", "no such folder or empty"),
    "missing split": (lambda t: shutil.rmtree(t / "test"), "test", "missing split folder"),
    "missing class": (lambda t: shutil.rmtree(t / "train/ship"), "train/ship", "missing class folder"),
    "unknown class": (lambda t: (t / "test/giraffe").mkdir(), "test/giraffe", "not a CIFAR-10 class folder"),
    "empty class": (lambda t: [p.unlink() for p in (t / "train/frog").iterdir()], "train/frog", "empty class folder"),
    "other file": (lambda t: (t / "train/cat/notes.txt").write_text("x"), "train/cat/notes.txt",
                   "not a JPEG file NNNN.jpg"),
    "png": (lambda t: _save(t / "train/cat/0002.jpg", kind="PNG"), "train/cat/0002.jpg",
            r"not a JPEG file \(it holds PNG\)"),
    "undecodable": (lambda t: (t / "test/dog/0001.jpg").write_bytes(b"\xff\xd8\xff garbage"), "test/dog/0001.jpg",
                    "not a decodable JPEG image"),
    "truncated": (lambda t: (t / "test/dog/0001.jpg").write_bytes((t / "test/dog/0001.jpg").read_bytes()[:300]),
                  "test/dog/0001.jpg", "not a decodable JPEG image"),
    "wrong size": (lambda t: _save(t / "train/horse/0003.jpg", size=(33, 32)), "train/horse/0003.jpg",
                   "33x32 RGB image; expected 32x32 RGB"),
    "grayscale": (lambda t: _save(t / "train/horse/0003.jpg", mode="L"), "train/horse/0003.jpg",
                  "32x32 L image; expected 32x32 RGB"),
}


@pytest.mark.parametrize("case", BAD_TREES)
def test_bad_tree_names_the_file_and_writes_nothing(case: str, tree: Path, tmp_path: Path) -> None:
    break_tree, relative, message = BAD_TREES[case]
    shutil.copytree(tree, tmp_path / "tree")
    break_tree(tmp_path / "tree")
    where = tmp_path / "tree" / relative
    with pytest.raises(DataError, match=f"^{where}: {message}"):
        convert_jpeg_cifar10(tmp_path / "tree", tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_bad_pack_is_named(tmp_path: Path) -> None:
    pack = tmp_path / "pack.npz"
    np.savez(pack, classes=np.array(CLASSES))
    with pytest.raises(DataError, match=f"pack {pack}: missing array\\(s\\) train_bytes, train_offsets"):
        convert_jpeg_cifar10(pack, tmp_path / "data")
    pack.write_bytes(b"")
    with pytest.raises(DataError, match=f"pack file {pack} is empty"):
        convert_jpeg_cifar10(pack, tmp_path / "data")


def test_a_failed_conversion_keeps_the_previous_one(tree: Path, root: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(root, tmp_path / "data")
    (tmp_path / "tree").mkdir()
    shutil.copytree(tree / "test", tmp_path / "tree" / "test")
    shutil.copytree(tree / "test", tmp_path / "tree" / "train")  # another, complete tree
    before = listing(tmp_path / "data")
    written = []

    def dump_two(obj: object, handle: object, protocol: int) -> None:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(pickle.dumps(obj, protocol))

    monkeypatch.setattr(cifar_jpeg.pickle, "dump", dump_two)
    with pytest.raises(DiskFullError, match="no room to write"):
        convert_jpeg_cifar10(tmp_path / "tree", tmp_path / "data")
    assert listing(tmp_path / "data") == before
    with pytest.raises(DiskFullError):
        convert_jpeg_cifar10(tmp_path / "tree", tmp_path / "fresh")
    assert list((tmp_path / "fresh").iterdir()) == []
    monkeypatch.undo()
    convert_jpeg_cifar10(tmp_path / "tree", tmp_path / "data")  # replaces the previous conversion
    assert [path.name for path in (tmp_path / "data").iterdir()] == [FOLDER]
    assert len(load_cifar10("train", str(tmp_path / "data"), verify=True)) == 30


def test_the_cifar10_recipe_builds_its_splits_on_the_converted_files(root: Path, fast_config) -> None:
    config = fast_config(FinetuneConfig, "finetune/ce_cifar10.yaml", f"data.root={root}", "data.n_max=5",
                         "data.rho=5")
    manifest = make_splits(config).manifest()
    assert manifest["labeled"]["class_counts"] == [5, 4, 3, 2, 2, 2, 1, 1, 1, 1]
    assert manifest["labeled"]["sources"] == ["cifar10-jpeg:train"]
    assert manifest["test"]["class_counts"] == [3] * 10 and manifest["test"]["sources"] == ["cifar10-jpeg:test"]
    pixels = read_json(root / FOLDER / "imbsemi_source.json")["splits"]["test"]["pixels_sha256"]
    assert manifest["test"]["pixels_sha256"] == pixels
