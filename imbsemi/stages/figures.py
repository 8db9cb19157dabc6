"""The figures of a trained classifier: per-class accuracy, confusion matrix, t-SNE of test features."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from imbsemi import plots
from imbsemi.stages.build import Splits


@torch.inference_mode()
def write_figures(folder: Path, model: nn.Module, splits: Splits,
                  test_batches: Iterable[tuple[torch.Tensor, torch.Tensor]], report: dict[str, Any], seed: int) -> None:
    """figures/per_class.png (test accuracy per class vs class size), figures/confusion.png (test
    confusion matrix, up to CONFUSION_MAX_CLASSES classes) and figures/tsne.png (features of the test
    batches, in the test split's order)."""
    plots.per_class_bars(folder / "per_class.png", splits.counts, {"test accuracy": report["per_class_acc"]},
                         "per-class test accuracy")
    if report["confusion"] is not None:
        plots.confusion_matrix(folder / "confusion.png", report["confusion"], "test confusion matrix")
    model.eval()
    device = next(model.parameters()).device
    features = torch.cat([model.features(x.to(device)).float().cpu() for x, _ in test_batches])
    coordinates, chosen = plots.tsne_embedding(features.numpy(), seed)
    plots.tsne_scatter(folder / "tsne.png", coordinates, splits.test.targets[chosen], "t-SNE of test features")
