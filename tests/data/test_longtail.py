"""Per-class counts equal the formulas (spec §3.1, §4.3, §12) and selection is seeded."""
from __future__ import annotations

import numpy as np
import pytest

from imbsemi.data.longtail import class_counts, seed_streams, select_per_class, unlabeled_counts
from imbsemi.errors import DataError


@pytest.mark.parametrize("rho, expected", [
    (10, [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]),
    (50, [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]),
    (100, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]),
    (200, [5000, 2775, 1540, 854, 474, 263, 146, 81, 45, 25]),
])
def test_cifar10_exp_counts_match_spec(rho: int, expected: list[int]) -> None:
    assert class_counts(5000.0, 10, rho, "exp") == expected


def test_other_profiles_and_totals() -> None:
    assert sum(class_counts(500.0, 100, 100, "exp")) == 10847
    assert class_counts(5000.0, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert class_counts(1000, 10, 50, "exp") == [1000, 647, 419, 271, 175, 113, 73, 47, 30, 20]
    assert class_counts(7, 3, 5, "uniform") == [7, 7, 7]


def test_unlabeled_counts_match_spec() -> None:
    assert unlabeled_counts(69980, 10, 1) == [6998] * 10
    assert unlabeled_counts(69980, 10, 100) == [28208, 16909, 10133, 6074, 3639, 2180, 1306, 781, 467, 278]
    assert unlabeled_counts(62030, 10, 50) == [22159, 14346, 9288, 6012, 3893, 2518, 1632, 1053, 682, 442]


def test_selection_is_seeded_and_exact() -> None:
    targets = np.repeat(np.arange(3), 20)
    first = select_per_class(targets, [5, 3, 1], seed_streams(0)["labeled"])
    again = select_per_class(targets, [5, 3, 1], seed_streams(0)["labeled"])
    other = select_per_class(targets, [5, 3, 1], seed_streams(1)["labeled"])
    assert np.bincount(targets[first]).tolist() == [5, 3, 1]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_shortage_names_class_and_counts() -> None:
    targets = np.repeat(np.arange(2), 4)
    with pytest.raises(DataError, match="class 1 needs 6 images but only 4 are available"):
        select_per_class(targets, [2, 6], seed_streams(0)["pool"], what="unlabeled pool")
