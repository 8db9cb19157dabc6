"""The embedded digits dataset: splits, long-tailed counts, pool with relevance, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imbsemi.config import DataConfig, PoolConfig, SourceRef
from imbsemi.data.splits import LTSplits
from imbsemi.data.sources import load, match_shape
from imbsemi.errors import DataError

DIGITS = DataConfig(n_max=50, pool=PoolConfig(size_factor=3, irrelevant=SourceRef("photos")))


def built(config: DataConfig = DIGITS, seed: int = 0) -> LTSplits:
    return LTSplits(config, seed)


def test_real_digits_in_uint8() -> None:
    test = load("digits", "test", "data")
    train = load("digits", "train", "data")
    assert test.images.shape == (500, 8, 8, 1) and train.images.shape == (1297, 8, 8, 1)
    assert test.class_counts() == [50] * 10
    assert train.images.dtype == np.uint8 and train.images.max() == 255
    assert not set(test.provenance.index) & set(train.provenance.index)


def test_long_tailed_split_has_the_formula_counts() -> None:
    # int(50 * 0.1 ** (i / 9)) for i = 0..9
    datamodule = built()
    assert datamodule.labeled.class_counts() == [50, 38, 29, 23, 17, 13, 10, 8, 6, 5]
    assert datamodule.val.class_counts() == [10] * 10
    assert datamodule.test.class_counts() == [50] * 10


def test_splits_are_disjoint_and_seeded() -> None:
    first, again, other = built(), built(), built(seed=1)
    used = [set(s.provenance.index) for s in (first.val, first.labeled, first.pool)]
    assert not (used[0] & used[1] or used[0] & used[2] or used[1] & used[2])
    assert first.labeled.fingerprint() == again.labeled.fingerprint() != other.labeled.fingerprint()
    assert first.pool.fingerprint() == again.pool.fingerprint() != other.pool.fingerprint()


def test_pool_counts_follow_rho_u_and_do_not_move_the_labeled_set() -> None:
    balanced = built()
    # T = 3 * 199 = 597; 59 per class (spec §4.3 rounding)
    assert balanced.pool.class_counts() == [59] * 10
    skewed = built(dataclasses.replace(DIGITS, pool=PoolConfig(size_factor=1, rho_u=10)))
    # T = 199, b = 19, raw [19, 14, 11, 8, 6, 5, 4, 3, 2, 1] (sum 73), rescaled by 199 / 73
    assert skewed.pool.class_counts() == [51, 38, 29, 21, 16, 13, 10, 8, 5, 2]
    assert skewed.labeled.fingerprint() == balanced.labeled.fingerprint()


def test_relevance_mixes_in_real_photo_crops() -> None:
    config = dataclasses.replace(DIGITS, pool=PoolConfig(size_factor=3, relevance=0.6, irrelevant=SourceRef("photos")))
    pool = built(config).pool
    irrelevant = pool.targets == -1
    # relevant: unlabeled_counts(round(0.6 * 597) = 358) = 35 per class = 350;
    # irrelevant: round(350 * 0.4 / 0.6) = 233 photo crops -> realised relevance 350 / 583
    assert pool.class_counts() == [35] * 10 and int(irrelevant.sum()) == 233
    assert abs(350 - 0.6 * len(pool)) <= 1
    assert pool.provenance.sources == ("digits:train", "photos")
    assert (pool.provenance.source_id == 1).sum() == irrelevant.sum()
    assert pool.images.shape[1:] == (8, 8, 1)


def test_pool_without_irrelevant_source_is_an_error() -> None:
    config = dataclasses.replace(DIGITS, pool=PoolConfig(size_factor=3, relevance=0.5))
    with pytest.raises(DataError, match="set data.pool.irrelevant"):
        _ = built(config).pool


def test_too_large_n_max_is_a_clear_shortage() -> None:
    with pytest.raises(DataError, match="labeled set: class 0 needs 200 images but only 118 are available"):
        built(dataclasses.replace(DIGITS, n_max=200, imb_type="uniform"))


def test_match_shape_converts_rgb_crops_to_small_grayscale() -> None:
    photos = load("photos", "train", "data")
    small = match_shape(photos, (8, 8, 1))
    assert small.images.shape == (len(photos), 8, 8, 1) and small.images.dtype == np.uint8
    expected = np.rint((photos.images[0].astype(float) @ [0.299, 0.587, 0.114]).reshape(8, 4, 8, 4).mean((1, 3)))
    assert np.abs(small.images[0, ..., 0].astype(float) - expected).max() <= 1


def test_unknown_source_lists_registered_names() -> None:
    with pytest.raises(DataError, match="data source 'cifar' is unknown; registered: cifar10, cifar100, digits, "
                                        "folder, npz, photos, svhn, tinyimages"):
        load("cifar", "train", "data")
