"""Long-tailed sets and pools built from real-format files: the spec §12 counts, head-to-tail order,
provenance, relevance, shortages and seeded determinism."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from formats import write_cifar10, write_cifar100, write_folder, write_svhn, write_tinyimages
from imbsemi.config import CommonConfig, DataConfig, PoolConfig
from imbsemi.config_files import load_config
from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.splits import LTSplits
from imbsemi.data.longtail import class_counts, seed_streams, select_per_class
from imbsemi.data.pools import build_pool
from imbsemi.data.sources import load
from imbsemi.errors import DataError
from imbsemi.stages.data import data_summary


def datamodule(tmp_path: Path, *overrides: str, seed: int = 0) -> LTSplits:
    data = load_config(DataConfig, None, [f"root={tmp_path}", "verify=false", *overrides])
    return LTSplits(data, seed)


@pytest.mark.parametrize("rho, expected", [
    (10, [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]),
    (100, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]),
])
def test_cifar10_lt_selection_at_full_size(rho: int, expected: list[int]) -> None:
    targets = np.tile(np.arange(10), 5000)  # CIFAR-10 train labels: 5,000 per class
    chosen = select_per_class(targets, class_counts(5000.0, 10, rho, "exp"), seed_streams(0)["labeled"])
    assert np.bincount(targets[chosen]).tolist() == expected


def _full_size_pool(labeled_total: int, rho_u: float) -> list[int]:
    tiny = np.zeros((500_000, 1, 1, 1), np.uint8)  # 500K Tiny-Images reference labels, 50K per class
    relevant = ImageArrays(tiny, np.repeat(np.arange(10), 50_000), tuple("abcdefghij"),
                           Provenance.single("ti", np.arange(500_000)))
    pool, _ = build_pool(relevant, np.arange(500_000), labeled_total, PoolConfig(rho_u=rho_u), None, None,
                         seed_streams(0))
    return pool.class_counts()


def test_cifar10_pools_match_spec_12_2() -> None:
    assert _full_size_pool(13_996, 1) == [6998] * 10
    assert _full_size_pool(13_996, 25) == [21651, 15138, 10587, 7403, 5176, 3619, 2530, 1769, 1237, 863]
    assert _full_size_pool(12_406, 100) == [24999, 14984, 8983, 5384, 3228, 1934, 1156, 693, 415, 249]


def test_svhn_lt_puts_digit_1_at_the_head(tmp_path: Path) -> None:
    for split, per_class in (("train", 30), ("test", 3), ("extra", 40)):
        write_svhn(tmp_path, split, per_class)
    module = datamodule(tmp_path, "source=svhn", "n_max=20", "val_per_class=2", "pool.size_factor=1",
                        "pool.rho_u=10", "pool.relevant={name: svhn, split: extra}")
    # head -> tail [20, 15, 11, 9, 7, 5, 4, 3, 2, 2] assigned to digits 1..9, 0 (spec §3.3)
    assert module.labeled.class_counts() == [2, 20, 15, 11, 9, 7, 5, 4, 3, 2]
    # pool: T = 78, b = 7, raw [7, 5, 4, 3, 2, 1, 1, 1, 0, 0] (24) x 78/24 -> same order
    assert module.pool.class_counts() == [0, 22, 16, 13, 9, 6, 3, 3, 3, 0]
    assert module.pool.provenance.sources == ("svhn:extra",)
    assert module.manifest()["n_max"] == 20


def test_cifar10_pool_from_tinyimages_with_cifar100_irrelevant(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train_per_class=20, test_per_class=2)
    write_cifar100(tmp_path, train_per_class=2, test_per_class=1)
    write_tinyimages(tmp_path, per_class=30)
    module = datamodule(tmp_path, "source=cifar10", "rho=10", "val_per_class=0", "pool.size_factor=2",
                        "pool.relevance=0.5", "pool.relevant=tinyimages", "pool.irrelevant=cifar100")
    assert module.labeled.class_counts() == [20, 15, 11, 9, 7, 5, 4, 3, 2, 2]  # n_max = 200 / 10
    pool = module.pool
    relevant = pool.targets >= 0
    assert pool.class_counts() == [7] * 10 and int((~relevant).sum()) == 70  # T = 156; 78 -> 7 per class
    assert pool.provenance.sources == ("tinyimages", "cifar100:train")
    # provenance points at the very source images and their reference labels
    ti = load("tinyimages", "train", str(tmp_path))
    c100 = load("cifar100", "train", str(tmp_path), verify=False)
    for i in (0, 35, 69, 70, 139):
        source = ti if pool.provenance.source_id[i] == 0 else c100
        assert np.array_equal(pool.images[i], source.images[pool.provenance.index[i]])
        if relevant[i]:
            assert pool.targets[i] == ti.targets[pool.provenance.index[i]]
    assert module.manifest()["pool"]["relevance"] == 0.5


def test_same_seed_same_indices_other_seed_different(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train_per_class=20, test_per_class=1)
    write_tinyimages(tmp_path, per_class=30)
    args = ("source=cifar10", "val_per_class=2", "n_max=15", "pool.size_factor=2", "pool.relevant=tinyimages")
    first, again, other = datamodule(tmp_path, *args), datamodule(tmp_path, *args), datamodule(tmp_path, *args, seed=1)
    for name in ("labeled", "validation", "pool"):
        first_m, again_m, other_m = first.manifest(), again.manifest(), other.manifest()
        if name == "pool":
            _ = first.pool, again.pool, other.pool
            first_m, again_m, other_m = first.manifest(), again.manifest(), other.manifest()
        assert first_m[name]["indices_sha256"] == again_m[name]["indices_sha256"] != other_m[name]["indices_sha256"]


def test_shortage_is_an_error_or_a_recorded_warning(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train_per_class=10, test_per_class=1)
    # labeled [4, 3, 2, 1, 1, 1, 0, 0, 0, 0] (12); pool T = 60: class 0 gets 12, but 10 - 4 = 6 are left
    args = ("source=cifar10", "val_per_class=0", "n_max=4", "pool.size_factor=5", "pool.rho_u=4")
    with pytest.raises(DataError, match=r"unlabeled pool: class 0 needs 12 images but only 6 are available; lower"):
        _ = datamodule(tmp_path, *args).pool
    module = datamodule(tmp_path, *args, "pool.allow_shortage=true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pool = module.pool
    assert [str(w.message) for w in caught] == [
        "unlabeled pool: class 0 gets 6 of 12 requested images (allow_shortage)",
        "unlabeled pool: class 1 gets 7 of 10 requested images (allow_shortage)"]
    assert pool.class_counts()[:2] == [6, 7]
    assert module.manifest()["pool"]["shortages"][0] == {"what": "unlabeled pool", "class": 0,
                                                         "requested": 12, "available": 6}


def test_validation_split_comes_out_of_the_training_images_first(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train_per_class=20, test_per_class=1)
    with pytest.raises(DataError, match=r"labeled set: class 0 needs 20 images but only 18 are available after "
                                        r"holding out data.val_per_class = 2; lower data.n_max \(now 20\)"):
        datamodule(tmp_path, "source=cifar10", "val_per_class=2", "n_max=20")
    module = datamodule(tmp_path, "source=cifar10", "val_per_class=2")  # n_max null: 18, what is left
    assert module.val.class_counts() == [2] * 10 and module.labeled.class_counts()[0] == 18
    assert not set(module.val.provenance.index) & set(module.labeled.provenance.index)


def test_original_pseudo_label_pickle_labels_the_pool_by_source_index(tmp_path: Path) -> None:
    import pickle

    from imbsemi.classifier.pseudo_labels import PseudoLabels

    write_cifar10(tmp_path, train_per_class=20, test_per_class=1)
    write_tinyimages(tmp_path, per_class=30)
    module = datamodule(tmp_path, "source=cifar10", "val_per_class=0", "pool.size_factor=2", "pool.relevant=tinyimages")
    predictions = (np.arange(300) * 7) % 10  # one label per Tiny-Images image, as gen_pseudolabels.py writes
    with open(tmp_path / "pseudo_labeled_cifar.pickle", "wb") as handle:
        pickle.dump({"extrapolated_targets": predictions, "prediction_model": "ckpt.best.pth.tar"}, handle)
    pseudo = PseudoLabels.load(tmp_path / "pseudo_labeled_cifar.pickle")
    labels, confidences = pseudo.for_pool(module.pool, "pseudo_labeled_cifar.pickle")
    assert np.array_equal(labels, predictions[module.pool.provenance.index]) and (confidences == 1).all()
    with open(tmp_path / "short.pickle", "wb") as handle:
        pickle.dump({"extrapolated_targets": predictions[:100]}, handle)
    with pytest.raises(DataError, match="short.pickle has 100 labels; the pool uses image"):
        PseudoLabels.load(tmp_path / "short.pickle").for_pool(module.pool, tmp_path / "short.pickle")


def test_a_test_split_missing_a_class_is_renumbered_by_class_name(tmp_path: Path) -> None:
    write_folder(tmp_path, "train", {"ant": 3, "bee": 3, "cat": 3}, size=4)
    write_folder(tmp_path, "test", {"ant": 1, "cat": 2}, size=4)
    config = load_config(DataConfig, None, [f"root={tmp_path}", "source=folder", "image_size=4", "val_per_class=0",
                                            "rho=1", "n_max=2", "pool.size_factor=0.5"])
    splits = LTSplits(config, 0)
    assert splits.test.classes == ("ant", "bee", "cat") and splits.test.targets.tolist() == [0, 2, 2]
    summary = data_summary(CommonConfig(data=config))
    assert summary[2:5] == [f"{label:<8}{test:>12}{0:>12}{2:>12}{1:>12}"
                            for label, test in enumerate([1, 0, 2])]


@pytest.mark.parametrize("imb_type, rho", [("exp", 10), ("step", 10), ("uniform", 1)])
def test_n_max_null_is_the_largest_the_images_left_after_the_hold_outs_allow(imb_type: str, rho: int) -> None:
    splits = LTSplits(load_config(DataConfig, None, ["source=digits", "n_max=null", f"imb_type={imb_type}",
                                                     f"rho={rho}", "val_per_class=10"]), 0)
    train = load("digits", "train", "")
    available = np.bincount(train.targets, minlength=10) - 10  # after the validation hold-out
    assert splits.labeled.class_counts() == splits.counts == class_counts(splits.n_max, 10, rho, imb_type)
    assert all(np.array(splits.counts) <= available)
    assert any(np.array(class_counts(splits.n_max + 1, 10, rho, imb_type)) > available)  # one more does not fit
    head = {"exp": available[0], "step": min(available[:5]), "uniform": min(available)}[imb_type]
    assert splits.n_max == head  # digits' classes are about equal: the head classes decide
