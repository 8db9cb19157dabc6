"""Per-class, balanced and many/medium/few-shot accuracy."""
from __future__ import annotations

import math
import statistics
from typing import Sequence

import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

STANDARD_SHOT_THRESHOLDS = (100, 20)  # many: > 100 training images, few: < 20 (spec §9)


def mean_std(values: Sequence[float], scale: float = 100.0) -> str:
    """``mean ± std`` of ``values`` x ``scale`` with one decimal (std 0 for a single value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * statistics.mean(values):.1f} ± {scale * spread:.1f}"


def shot_thresholds(train_counts: Sequence[int]) -> tuple[float, float]:
    """(many_above, few_below) thresholds on a class's training-image count.

    The standard (100, 20) when the largest class has more than 100 images. Smaller datasets
    would put every class in one group, so they split the log-count range [n_min, n_max] into
    thirds instead: many > n_min * rho^(2/3), few < n_min * rho^(1/3).
    """
    n_max, n_min = max(train_counts), max(min(train_counts), 1)
    if n_max > STANDARD_SHOT_THRESHOLDS[0]:
        return STANDARD_SHOT_THRESHOLDS
    rho = n_max / n_min
    return n_min * rho ** (2 / 3), n_min * rho ** (1 / 3)


CONFUSION_MAX_CLASSES = 100


def classification_report(preds: torch.Tensor, targets: torch.Tensor, train_counts: Sequence[int],
                          thresholds: Sequence[float] | None = None) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall), per-class accuracy (recall) and precision
    (None for a class never predicted), the confusion matrix (rows: true class; None past
    CONFUSION_MAX_CLASSES classes, where it would dwarf everything else) and shot groups.

    Args:
        preds, targets: int64 (N,) predicted and true labels.
        train_counts: training images per class, to assign classes to many/medium/few.
        thresholds: (many_above, few_below); default ``shot_thresholds(train_counts)``.
    """
    num_classes = len(train_counts)
    confusion = multiclass_confusion_matrix(preds, targets, num_classes).double()
    support = confusion.sum(1)
    per_class = (confusion.diagonal() / support.clamp(min=1)).tolist()
    predicted = confusion.sum(0)
    precision = [None if n == 0 else float(d / n) for d, n in zip(confusion.diagonal(), predicted)]
    present = [acc for acc, n in zip(per_class, support.tolist()) if n > 0]
    many_above, few_below = thresholds if thresholds is not None else shot_thresholds(train_counts)
    groups = {"many": [], "medium": [], "few": []}
    for label, count in enumerate(train_counts):
        group = "many" if count > many_above else "few" if count < few_below else "medium"
        if support[label] > 0:
            groups[group].append(label)
    report = {
        "acc": float(confusion.diagonal().sum() / confusion.sum().clamp(min=1)),
        "balanced_acc": sum(present) / len(present) if present else math.nan,
        "per_class_acc": per_class,
        "per_class_precision": precision,
        "confusion": confusion.long().tolist() if num_classes <= CONFUSION_MAX_CLASSES else None,
        "shot_groups": groups,
        "shot_thresholds": [many_above, few_below],
    }
    for name, labels in groups.items():
        report[name] = sum(per_class[c] for c in labels) / len(labels) if labels else math.nan
    return report
