"""Table of bad data inputs: each gives one clear error naming the file / key / value and what was expected."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import scipy.io

from formats import write_cifar10, write_folder, write_svhn, write_tinyimages
from imbsemi.config import DataConfig
from imbsemi.config_files import load_config
from imbsemi.data.sources import SOURCES, accepted_options, load
from imbsemi.data.splits import LTSplits
from imbsemi.errors import ConfigError, DataError

CIFAR_BATCH = Path("cifar-10-batches-py") / "data_batch_1"


def _edit_pickle(path: Path, edit: Callable[[dict], None]) -> None:
    content = pickle.loads(path.read_bytes(), encoding="latin1")
    edit(content)
    path.write_bytes(pickle.dumps(content, protocol=2))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def cifar(edit: Callable[[Path], None] | None = None) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        write_cifar10(root, train_per_class=2, test_per_class=1)
        if edit:
            edit(root / CIFAR_BATCH)
    return setup


def svhn(mat: dict | None = None, truncate: bool = False) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        write_svhn(root, "train", 2)
        if mat is not None:
            scipy.io.savemat(str(root / "train_32x32.mat"), mat)
        if truncate:
            _truncate(root / "train_32x32.mat")
    return setup


def tiny(edit: Callable[[dict], None] | None = None, truncate: bool = False) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        write_tinyimages(root, per_class=2)
        if edit:
            _edit_pickle(root / "ti_80M_selected.pickle", edit)
        if truncate:
            _truncate(root / "ti_80M_selected.pickle")
    return setup


def npz(**arrays: np.ndarray) -> Callable[[Path], None]:
    return lambda root: np.savez(root / "train.npz", **arrays)


def npz_splits(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        np.savez(root / "train.npz", **train)
        np.savez(root / "test.npz", **test)
    return setup


def images(n: int, side: int = 4) -> np.ndarray:
    return np.zeros((n, side, side, 1), np.uint8)


def loading(name: str, split: str = "train") -> Callable[[Path], object]:
    """Load with md5 checks off where the source has them (the fixtures are not the real files)."""
    verify = {"verify": False} if name in SOURCES and "verify" in accepted_options(name) else {}
    return lambda root: load(name, split, str(root), **verify)


def building(*overrides: str) -> Callable[[Path], object]:
    def build(root: Path) -> object:
        config = load_config(DataConfig, None, [f"root={root}", "verify=false", *overrides])
        return LTSplits(config, 0).pool
    return build


GOOD_X = np.zeros((4, 4, 4, 1), np.uint8)
CASES = [
    ("cifar-missing", None, loading("cifar10"), DataError,
     ["cifar-10-batches-py does not exist", "data_prep/download.py cifar10"]),
    ("cifar-truncated", cifar(_truncate), loading("cifar10"), DataError, ["data_batch_1 is truncated or not a pickle"]),
    ("cifar-missing-key", cifar(lambda p: _edit_pickle(p, lambda c: c.pop("labels"))), loading("cifar10"),
     DataError, ["data_batch_1: missing key 'labels'"]),
    ("cifar-wrong-shape", cifar(lambda p: _edit_pickle(p, lambda c: c.update(data=c["data"][:, :3000]))),
     loading("cifar10"), DataError, ["data_batch_1: key 'data' must be uint8 of shape (N, 3072)", "(4, 3000)"]),
    ("cifar-wrong-dtype", cifar(lambda p: _edit_pickle(p, lambda c: c.update(data=c["data"] / 255))),
     loading("cifar10"), DataError, ["key 'data' must be uint8", "float64"]),
    ("cifar-label-range", cifar(lambda p: _edit_pickle(p, lambda c: c.update(labels=[10, 1, 2, 3]))),
     loading("cifar10"), DataError, ["data_batch_1: labels must be in [0, 9], got [1, 10]"]),
    ("cifar-unknown-split", cifar(), loading("cifar10", "extra"), DataError,
     ["cifar10: unknown split 'extra'; expected one of train, test"]),
    ("svhn-missing", None, loading("svhn"), DataError, ["train_32x32.mat does not exist"]),
    ("svhn-truncated", svhn(truncate=True), loading("svhn"), DataError,
     ["train_32x32.mat is truncated or not a .mat file"]),
    ("svhn-missing-key", svhn({"y": np.ones((3, 1))}), loading("svhn"), DataError, ["missing key 'X'"]),
    ("svhn-wrong-dtype", svhn({"X": np.zeros((32, 32, 3, 2)), "y": np.ones((2, 1))}), loading("svhn"), DataError,
     ["key 'X' must be uint8 of shape (32, 32, 3, N)", "float64"]),
    ("svhn-label-range", svhn({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])}),
     loading("svhn"), DataError, ["labels must be in [1, 10], got [1, 11]"]),
    ("tiny-missing-key", tiny(lambda c: c.pop("extrapolated_targets")), loading("tinyimages"), DataError,
     ["ti_80M_selected.pickle: missing key 'extrapolated_targets'"]),
    ("tiny-wrong-shape", tiny(lambda c: c.update(data=c["data"][..., 0])), loading("tinyimages"), DataError,
     ["key 'data' must be uint8 of shape (N, 32, 32, 3)", "(20, 32, 32)"]),
    ("tiny-truncated", tiny(truncate=True), loading("tinyimages"), DataError,
     ["ti_80M_selected.pickle is truncated or not a pickle"]),
    ("tiny-length", tiny(lambda c: c.update(extrapolated_targets=c["extrapolated_targets"][:5])),
     loading("tinyimages"), DataError, ["'extrapolated_targets' must hold 20 integers"]),
    ("folder-missing", None, loading("folder"), DataError, ["train does not exist; expected"]),
    ("folder-empty-class", lambda root: (write_folder(root, "train", {"cat": 2}), (root / "train/dog").mkdir()),
     loading("folder"), DataError, ["dog", "every class folder needs at least one image"]),
    ("npz-missing-key", npz(x=GOOD_X), loading("npz"), DataError, ["train.npz: missing array 'y'"]),
    ("npz-label-range", npz(x=GOOD_X, y=np.array([0, 1, -1, 0])), loading("npz"), DataError,
     ["train.npz: y must be in [0, 1], got [-1, 1]"]),
    ("npz-empty", lambda root: (root / "train.npz").write_bytes(b""), loading("npz"), DataError,
     ["npz dataset file", "train.npz is empty (0 bytes); expected an .npz archive"]),
    ("npz-truncated", lambda root: (npz(x=GOOD_X, y=np.zeros(4, int))(root), _truncate(root / "train.npz")),
     loading("npz"), DataError, ["train.npz is truncated or not an .npz archive"]),
    ("test-image-size", npz_splits({"x": images(4), "y": np.arange(4) % 2}, {"x": images(2, 8), "y": np.arange(2)}),
     building("source=npz"), DataError, ["the test split of npz has images of shape 8x8x1, its training split 4x4x1"]),
    ("test-channels", npz_splits({"x": images(4), "y": np.arange(4) % 2},
                                 {"x": np.zeros((2, 4, 4, 3), np.uint8), "y": np.arange(2)}),
     building("source=npz"), DataError, ["shape 4x4x3, its training split 4x4x1"]),
    ("test-class-unknown", npz_splits({"x": images(4), "y": np.arange(4) % 2}, {"x": images(3), "y": np.arange(3)}),
     building("source=npz"), DataError, ["the test split of npz has class(es) '2' that the training split lacks"]),
    ("test-class-without-training-image",
     npz_splits({"x": images(4), "y": np.arange(4) % 2, "classes": np.array(["a", "b", "c"])},
                {"x": images(3), "y": np.arange(3), "classes": np.array(["a", "b", "c"])}),
     building("source=npz"), DataError, ["has images of class(es) 'c', of which the training split has no image"]),
    ("folder-test-class-unknown", lambda root: (write_folder(root, "train", {"ant": 2, "bee": 2}, size=4),
                                                write_folder(root, "test", {"ant": 1, "eel": 1}, size=4)),
     building("source=folder", "image_size=4"), DataError,
     ["the test split of folder has class(es) 'eel' that the training split lacks; training classes: ant, bee"]),
    ("unknown-source", None, loading("imagenet"), DataError,
     ["data source 'imagenet' is unknown; registered: cifar10, cifar100, digits"]),
    ("rho-below-1", None, building("rho=0.5"), ConfigError, ["rho = 0.5: must be a finite number >= 1"]),
    ("rho-infinite", None, building("rho=.inf"), ConfigError, ["rho = inf: must be a finite number >= 1"]),
    ("relevance-above-1", None, building("pool.relevance=1.2"), ConfigError,
     ["pool.relevance = 1.2: must be in [0, 1]"]),
    ("size-factor-zero", None, building("pool.size_factor=0"), ConfigError, ["pool.size_factor = 0: must be > 0"]),
    ("irrelevant-unknown", None, building("n_max=30", "pool.relevance=0.5", "pool.irrelevant=noise"), DataError,
     ["data source 'noise' is unknown"]),
    ("source-ref-without-name", None, building("pool.relevant={split: extra}"), ConfigError,
     ["missing key pool.relevant.name"]),
]


@pytest.mark.parametrize("case_id, setup, call, error, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(tmp_path: Path, case_id: str, setup, call, error, fragments) -> None:
    if setup is not None:
        setup(tmp_path)
    with pytest.raises(error) as info:
        call(tmp_path)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_table_has_enough_cases() -> None:
    assert len(CASES) >= 15


def test_a_loader_refuses_options_it_does_not_read() -> None:
    with pytest.raises(DataError, match="data source 'digits' does not read download; its options: \\(none\\)"):
        load("digits", "train", "data", download=True)
    with pytest.raises(DataError, match="'npz' does not read image_size, verify; its options: \\(none\\)"):
        load("npz", "train", "data", verify=False, image_size=16)


def test_a_data_option_no_source_of_the_config_reads_is_an_error() -> None:
    with pytest.raises(ConfigError, match="data.image_size = 64 has no effect: no source of this config "
                                          "\\(digits\\) reads it; it applies to folder"):
        LTSplits(DataConfig(image_size=64), 0)
    with pytest.raises(ConfigError, match="data.download = True has no effect"):
        LTSplits(DataConfig(download=True), 0)
    assert LTSplits(DataConfig(verify=False, n_max=50), 0).num_classes == 10  # no checksums: verify holds anyway
