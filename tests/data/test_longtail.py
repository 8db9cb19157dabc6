"""Per-class counts equal the formulas (spec §3.1, §4.3, §12) and selection is seeded."""
from __future__ import annotations

import numpy as np
import pytest

from imbsemi.data.longtail import by_label, class_counts, seed_streams, select_per_class, unlabeled_counts
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


@pytest.mark.parametrize("rho, head, tail, total", [
    (10, [500, 488, 477], [52, 51, 50], 19573),
    (50, [500, 480, 462], [10, 10, 10], 12608),
    (100, [500, 477, 455], [5, 5, 5], 10847),
    (200, [500, 473, 449], [2, 2, 2], 9502),
])
def test_cifar100_counts_match_spec(rho: int, head: list[int], tail: list[int], total: int) -> None:
    counts = class_counts(500.0, 100, rho, "exp")
    assert counts[:3] == head and counts[-3:] == tail and sum(counts) == total


@pytest.mark.parametrize("rho, expected", [
    (10, [1000, 774, 599, 464, 359, 278, 215, 166, 129, 100]),
    (50, [1000, 647, 419, 271, 175, 113, 73, 47, 30, 20]),
    (100, [1000, 599, 359, 215, 129, 77, 46, 27, 16, 10]),
])
def test_svhn_counts_and_rotated_order(rho: int, expected: list[int]) -> None:
    head_first = class_counts(1000, 10, rho, "exp")
    assert head_first == expected
    assert by_label(head_first, (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)) == [expected[-1], *expected[:-1]]


def test_step_profiles_match_spec() -> None:
    assert sum(class_counts(500.0, 100, 100, "step")) == 25250
    assert class_counts(1000, 10, 100, "step") == [1000] * 5 + [10] * 5


def test_svhn_pools_match_spec_12_2() -> None:
    assert unlabeled_counts(13975, 10, 1) == [1397] * 10
    assert unlabeled_counts(13975, 10, 25) == [4327, 3023, 2115, 1477, 1034, 721, 504, 353, 244, 170]
    assert unlabeled_counts(12390, 10, 100) == [5000, 2994, 1795, 1073, 645, 383, 230, 137, 80, 48]
