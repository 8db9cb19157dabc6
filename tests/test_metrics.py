"""Per-class, balanced and shot-group accuracy on a hand-computed case."""
from __future__ import annotations

import math

import torch

from imbsemi.metrics import classification_report, shot_thresholds


def test_report_on_hand_computed_case() -> None:
    targets = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    preds = torch.tensor([0, 0, 0, 1, 1, 0, 2, 0])
    report = classification_report(preds, targets, train_counts=[500, 50, 5])
    assert report["per_class_acc"] == [0.75, 0.5, 0.5]
    # predicted 0: five times (3 right), 1: twice (1 right), 2: once (1 right)
    assert report["per_class_precision"] == [0.6, 0.5, 1.0]
    assert report["confusion"] == [[3, 1, 0], [1, 1, 0], [1, 0, 1]]
    assert math.isclose(report["acc"], 5 / 8)
    assert math.isclose(report["balanced_acc"], (0.75 + 0.5 + 0.5) / 3)
    assert report["shot_groups"] == {"many": [0], "medium": [1], "few": [2]}
    assert (report["many"], report["medium"], report["few"]) == (0.75, 0.5, 0.5)


def test_configured_thresholds_regroup_classes() -> None:
    report = classification_report(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), [500, 50, 5], thresholds=(40, 10))
    assert report["shot_groups"] == {"many": [0, 1], "medium": [], "few": [2]}
    assert math.isnan(report["medium"])


def test_small_datasets_split_the_log_count_range_in_thirds() -> None:
    many, few = shot_thresholds([50, 38, 29, 23, 17, 13, 10, 8, 6, 5])
    assert math.isclose(many, 5 * 10 ** (2 / 3)) and math.isclose(few, 5 * 10 ** (1 / 3))
    assert shot_thresholds([5000, 50]) == (100, 20)
