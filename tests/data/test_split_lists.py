"""Split-file datasets (ImageNet-LT / iNaturalist 2018) are read as they are: the same images and labels
from the text lists and the JSON annotations, per-class counts straight from the file, and a clear
error naming the file and line for every malformed entry."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from formats import write_split_files
from imbsemi.data.split_lists import read_split
from imbsemi.errors import DataError

COUNTS = {"train": [9, 5, 2], "val": [2, 2, 2]}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lt")
    write_split_files(root, COUNTS, size=12)
    return root


def test_both_formats_list_the_same_images_with_counts_from_the_file(tree: Path) -> None:
    text = read_split(tree / "ImageNet_LT_train.txt", tree)
    annotated = read_split(tree / "train2018.json", tree)
    assert text.class_counts() == annotated.class_counts() == [9, 5, 2]
    assert text.paths.tolist() == annotated.paths.tolist() and np.array_equal(text.targets, annotated.targets)
    assert text.paths[0] == "train/c0/0.jpg" and text.lines[-1] == 16 and text.classes == ("0", "1", "2")
    assert annotated.classes == ("species 0", "species 1", "species 2")
    val = read_split(tree / "ImageNet_LT_val.txt", tree, text.classes)
    assert val.class_counts() == [2, 2, 2] and val.fingerprint() != text.fingerprint()
    text.check_exist()
    assert text.subset(np.array([15, 0])).paths.tolist() == ["train/c2/1.jpg", "train/c0/0.jpg"]


def _write(tmp_path: Path, name: str, content: str) -> Path:
    (tmp_path / name).write_text(content)
    return tmp_path / name


def _json(**content: object) -> str:
    base = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "category_id": 0}],
            "categories": [{"id": 0, "name": "x"}]}
    return json.dumps({**base, **content})


@pytest.mark.parametrize("name, content, classes, message", [
    ("bad.txt", "a.jpg 0\nb.jpg\n", None, "bad.txt line 2: expected '<relative image path> <integer label>', "
                                          "got 'b.jpg'"),
    ("bad.txt", "a.jpg 0\n\nb.jpg x\n", None, "bad.txt line 3: expected"),
    ("neg.txt", "a.jpg -1\n", None, "neg.txt line 1: label -1; expected a label >= 0"),
    ("range.txt", "a.jpg 0\nb.jpg 3\n", ("0", "1", "2"), "range.txt line 2: label 3; expected a label in [0, 2]"),
    ("empty.txt", "\n", None, "split file {tmp}/empty.txt lists no image"),
    ("list.csv", "a.jpg 0\n", None, "expected a .txt list or an iNaturalist-style .json"),
    ("no_images.json", json.dumps({"annotations": []}), None, "expected a JSON object with a list 'images'"),
    ("entry.json", _json(images=[{"id": 1}]), None, "images entry 1 must have id, file_name"),
    ("unknown.json", _json(annotations=[{"image_id": 1, "category_id": 7}]), None,
     "annotation 1 has category_id 7, which is not among the categories"),
    ("twice.json", _json(annotations=[{"image_id": 1, "category_id": 0}] * 2), None,
     "annotation 2: image 1 has a second label"),
    ("test2018.json", _json(annotations=[]), None, "images entry 1 (id 1) has no annotation (1 in all)"),
    ("cut.json", _json()[:40], None, "cut.json is not valid JSON"),
    ("other.json", _json(), ("x", "y"), "its 1 categories differ from the training split's 2"),
])
def test_a_malformed_split_file_names_the_file_and_entry(tmp_path: Path, name: str, content: str,
                                                         classes: tuple[str, ...] | None, message: str) -> None:
    with pytest.raises(DataError) as err:
        read_split(_write(tmp_path, name, content), tmp_path, classes)
    assert message.format(tmp=tmp_path) in str(err.value)


def test_a_missing_image_names_the_split_file_line_and_path(tree: Path, tmp_path: Path) -> None:
    listing = _write(tmp_path, "list.txt", "train/c0/0.jpg 0\ntrain/c0/404.jpg 0\ngone.jpg 1\n")
    with pytest.raises(DataError, match=rf"list.txt line 2: image {tree}/train/c0/404.jpg does not exist "
                                        r"\(1 more missing\)"):
        read_split(listing, tree).check_exist()
    with pytest.raises(DataError, match="split file .*none.txt does not exist"):
        read_split(tmp_path / "none.txt", tree)
