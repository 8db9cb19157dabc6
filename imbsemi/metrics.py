"""Per-class, balanced and many/medium/few-shot accuracy, macro-F1 and G-mean: the numbers that do not
reward predicting the head classes only."""
from __future__ import annotations

import math
import statistics
from typing import Sequence, get_args

import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from imbsemi.config import SummaryMetric

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
# The scalar numbers of a report, in table order: what summaries, reports and sweeps show per run and
# what ``selection_metric`` may name.
SUMMARY_METRICS: tuple[str, ...] = get_args(SummaryMetric)


def classification_report(preds: torch.Tensor, targets: torch.Tensor, train_counts: Sequence[int],
                          thresholds: Sequence[float] | None = None) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall), macro-F1 and G-mean (the geometric mean of
    the per-class recalls: 0 as soon as one class is never recognised), per-class accuracy (= recall),
    precision (None for a class never predicted) and F1, the confusion matrix (rows: true class; None
    past CONFUSION_MAX_CLASSES classes, where it would dwarf everything else) and shot groups. The
    averages run over the classes present in ``targets``.

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
    f1 = (2 * confusion.diagonal() / (support + predicted).clamp(min=1)).tolist()
    present_labels = [label for label, n in enumerate(support.tolist()) if n > 0]
    present = [per_class[label] for label in present_labels]
    many_above, few_below = thresholds if thresholds is not None else shot_thresholds(train_counts)
    groups = {"many": [], "medium": [], "few": []}
    for label, count in enumerate(train_counts):
        group = "many" if count > many_above else "few" if count < few_below else "medium"
        if support[label] > 0:
            groups[group].append(label)
    report = {
        "acc": float(confusion.diagonal().sum() / confusion.sum().clamp(min=1)),
        "balanced_acc": sum(present) / len(present) if present else math.nan,
        "macro_f1": sum(f1[label] for label in present_labels) / len(present) if present else math.nan,
        "g_mean": math.prod(present) ** (1 / len(present)) if present else math.nan,
        "per_class_acc": per_class,
        "per_class_precision": precision,
        "per_class_f1": f1,
        "confusion": confusion.long().tolist() if num_classes <= CONFUSION_MAX_CLASSES else None,
        "shot_groups": groups,
        "shot_thresholds": [many_above, few_below],
    }
    for name, labels in groups.items():
        report[name] = sum(per_class[c] for c in labels) / len(labels) if labels else math.nan
    return report
