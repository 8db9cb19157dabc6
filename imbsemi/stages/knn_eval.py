"""kNN accuracy of a backbone on the test split, with the labeled set as the bank (no training)."""
from __future__ import annotations

from pathlib import Path

import torch

from imbsemi.checkpoints import load_backbone
from imbsemi.config import SSPConfig
from imbsemi.data.loader import eval_loader
from imbsemi.ssl.knn import embed, knn_accuracy
from imbsemi.stages.build import make_model, make_splits


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
