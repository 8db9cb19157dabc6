"""Per-class, balanced and shot-group accuracy, macro-F1 and G-mean on hand-computed cases and against
scikit-learn."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import gmean
from sklearn.metrics import f1_score, precision_score, recall_score

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
    # F1_c = 2 TP / (support + predicted): 6/9, 2/4, 2/3
    assert report["per_class_f1"] == pytest.approx([2 / 3, 0.5, 2 / 3])
    assert math.isclose(report["macro_f1"], 11 / 18)
    assert math.isclose(report["g_mean"], (0.75 * 0.5 * 0.5) ** (1 / 3))


def test_trivial_majority_model_scores_high_accuracy_but_zero_g_mean() -> None:
    targets = torch.tensor([0] * 90 + [1] * 8 + [2] * 2)
    report = classification_report(torch.zeros(100, dtype=torch.long), targets, train_counts=[900, 80, 20])
    assert report["acc"] == 0.9 and math.isclose(report["balanced_acc"], 1 / 3)
    assert report["g_mean"] == 0.0 and math.isclose(report["macro_f1"], (2 * 90 / 190) / 3)


def test_macro_f1_g_mean_and_per_class_numbers_equal_scikit_learn() -> None:
    generator = np.random.default_rng(7)
    targets = np.repeat(np.arange(6), [60, 30, 15, 8, 4, 3])
    preds = np.where(generator.random(len(targets)) < 0.7, targets, generator.integers(0, 6, len(targets)))
    report = classification_report(torch.from_numpy(preds), torch.from_numpy(targets), [600, 300, 150, 80, 40, 30])
    assert math.isclose(report["macro_f1"], f1_score(targets, preds, average="macro"))
    assert math.isclose(report["g_mean"], gmean(recall_score(targets, preds, average=None)))
    assert report["per_class_acc"] == pytest.approx(recall_score(targets, preds, average=None).tolist())
    assert report["per_class_precision"] == pytest.approx(precision_score(targets, preds, average=None).tolist())
    assert report["per_class_f1"] == pytest.approx(f1_score(targets, preds, average=None).tolist())


def test_configured_thresholds_regroup_classes() -> None:
    report = classification_report(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), [500, 50, 5], thresholds=(40, 10))
    assert report["shot_groups"] == {"many": [0, 1], "medium": [], "few": [2]}
    assert math.isnan(report["medium"])


def test_small_datasets_split_the_log_count_range_in_thirds() -> None:
    many, few = shot_thresholds([50, 38, 29, 23, 17, 13, 10, 8, 6, 5])
    assert math.isclose(many, 5 * 10 ** (2 / 3)) and math.isclose(few, 5 * 10 ** (1 / 3))
    assert shot_thresholds([5000, 50]) == (100, 20)
