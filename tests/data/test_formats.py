"""Every source reads its real on-disk format (miniature files written by formats.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats import images_for, write_cifar10, write_cifar100, write_folder, write_svhn, write_tinyimages
from imbsemi.data.cache import CACHE_FOLDER
from imbsemi.data.sources import load


def test_cifar10_pickles(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train_per_class=3, test_per_class=2)
    train = load("cifar10", "train", str(tmp_path), verify=False)
    test = load("cifar10", "test", str(tmp_path), verify=False)
    assert train.images.shape == (30, 32, 32, 3) and test.class_counts() == [2] * 10
    assert train.classes[0] == "airplane" and train.targets[:3].tolist() == [0, 1, 2]
    # the (N, 3072) rows are channel-major: pixel (0, 0) of image 0 is data[0, 0], data[0, 1024], data[0, 2048]
    expected = images_for(np.tile(np.arange(10), 3)[:6], 1)
    assert np.array_equal(train.images[:6], expected)
    assert train.provenance.sources == ("cifar10:train",)


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    write_cifar100(tmp_path, train_per_class=1, test_per_class=1)
    train = load("cifar100", "train", str(tmp_path), verify=False)
    assert train.num_classes == 100 and train.class_counts() == [1] * 100
    assert train.classes[:2] == ("fine0", "fine1")


def test_svhn_mat_maps_10_to_0_and_caches(tmp_path: Path) -> None:
    write_svhn(tmp_path, "extra", per_class=4)
    extra = load("svhn", "extra", str(tmp_path), verify=False)
    assert extra.images.shape == (40, 32, 32, 3) and extra.class_counts() == [4] * 10
    assert extra.targets[:3].tolist() == [0, 1, 2]
    assert np.array_equal(extra.images[:10], images_for(np.arange(10), 5))
    assert isinstance(extra.images, np.memmap)  # decoded once, memory-mapped afterwards
    assert len(list((tmp_path / CACHE_FOLDER).glob("svhn-extra-*.npy"))) == 2
    again = load("svhn", "extra", str(tmp_path), verify=False)
    assert np.array_equal(again.images, extra.images)


def test_tinyimages_pickle_is_converted_once(tmp_path: Path) -> None:
    write_tinyimages(tmp_path, per_class=5)
    pool = load("tinyimages", "train", str(tmp_path))
    assert pool.images.shape == (50, 32, 32, 3) and isinstance(pool.images, np.memmap)
    assert pool.class_counts() == [5] * 10 and pool.classes[-1] == "truck"
    cached = sorted((tmp_path / CACHE_FOLDER).iterdir())
    stamp = [p.stat().st_mtime_ns for p in cached]
    load("tinyimages", "train", str(tmp_path))
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / CACHE_FOLDER).iterdir())] == stamp


def test_image_folder_is_decoded_resized_and_cached(tmp_path: Path) -> None:
    write_folder(tmp_path, "train", {"cat": 3, "dog": 2}, size=20)
    train = load("folder", "train", str(tmp_path), image_size=16)
    assert train.images.shape == (5, 16, 16, 3) and train.classes == ("cat", "dog")
    assert train.class_counts() == [3, 2] and int(train.images[4, 0, 0, 0]) == 20 + 1


def test_npz_arrays(tmp_path: Path) -> None:
    x = np.zeros((6, 4, 4, 1), np.uint8)
    np.savez(tmp_path / "train.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]), classes=np.array(["a", "b", "c"]))
    train = load("npz", "train", str(tmp_path))
    assert train.classes == ("a", "b", "c") and train.class_counts() == [2, 2, 2]


def test_md5_is_checked(tmp_path: Path) -> None:
    from imbsemi.errors import DataError

    write_cifar10(tmp_path, train_per_class=1, test_per_class=1)
    with pytest.raises(DataError, match=r"data_batch_1 is missing or corrupted \(md5 expected c99cafc1"):
        load("cifar10", "train", str(tmp_path), verify=True)
