"""Evaluation outside training: kNN accuracy of a backbone on the test split, and the figures of a
trained classifier."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from imbsemi import plots
from imbsemi.checkpoints import load_backbone
from imbsemi.config import SSPConfig
from imbsemi.data.datamodule import LTDataModule
from imbsemi.data.loader import eval_loader
from imbsemi.ssl.knn import embed, knn_accuracy
from imbsemi.stages.common import make_model, make_splits


def evaluate_knn(config: SSPConfig, backbone: Path | None, seed: int | None = None) -> float:
    """Test-split kNN accuracy of an exported ``backbone`` with the labeled set as the bank and the
    monitor's k, temperature and layer (``config.knn``); with ``backbone`` None, of a network
    initialised with ``seed`` (default ``config.seed``), the reference SSP must beat."""
    splits = make_splits(config)
    torch.manual_seed(config.seed if seed is None else seed)
    model = make_model(config, splits, splits.num_classes).eval()
    if backbone is not None:
        load_backbone(model, backbone)
    knn = config.knn
    bank, bank_labels = embed(model, eval_loader(splits.labeled, splits.mean, splits.std, "cpu"), knn.layer)
    features, labels = embed(model, eval_loader(splits.test, splits.mean, splits.std, "cpu"), knn.layer)
    return knn_accuracy(features, labels, bank, bank_labels, splits.num_classes, knn.k, knn.t)


@torch.inference_mode()
def write_figures(folder: Path, model: nn.Module, datamodule: LTDataModule, report: dict[str, Any],
                  seed: int) -> None:
    """figures/per_class.png (test accuracy per class vs class size), figures/confusion.png (test
    confusion matrix) and figures/tsne.png (test features)."""
    splits = datamodule.splits
    plots.per_class_bars(folder / "per_class.png", splits.counts, {"test accuracy": report["per_class_acc"]},
                         "per-class test accuracy")
    plots.confusion_matrix(folder / "confusion.png", report["confusion"], "test confusion matrix")
    model.eval()
    device = next(model.parameters()).device
    features = torch.cat([model.features(x.to(device)).float().cpu() for x, _ in datamodule.test_dataloader()])
    coordinates, chosen = plots.tsne_embedding(features.numpy(), seed)
    plots.tsne_scatter(folder / "tsne.png", coordinates, splits.test.targets[chosen], "t-SNE of test features")
