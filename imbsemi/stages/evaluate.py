"""Evaluation without training: a classifier checkpoint (any layout) on the test split, kNN accuracy of
a backbone, and the figures of a trained classifier."""
from __future__ import annotations

import logging

from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from imbsemi import plots
from imbsemi.accel import run_device
from imbsemi.checkpoints import load_backbone, load_classifier
from imbsemi.classifier.pseudo_labels import predict
from imbsemi.config import EvaluateConfig, SSPConfig
from imbsemi.data.loader import eval_loader
from imbsemi.data.splits import LTSplits
from imbsemi.errors import CheckpointError, ConfigError
from imbsemi.io import write_json
from imbsemi.metrics import classification_report
from imbsemi.released import resolve_checkpoint
from imbsemi.ssl.knn import embed, knn_accuracy
from imbsemi.stages.common import StageResult, make_model, make_splits, run_stage, save_manifest
from imbsemi.tracking import Tracker


log = logging.getLogger("imbsemi")

def run_evaluate(config: EvaluateConfig, folder: Path | None = None, tracker: Tracker | None = None) -> StageResult:
    """Test ``config.checkpoint`` (a path or ``pretrained:NAME``, any layout) on the test split of
    ``config.data``: ``metrics.json`` (``test``: balanced, many/medium/few and per-class accuracy,
    precision, confusion matrix; the layout and architecture read) and figures in the run folder
    (default: ``run_folder(config, "evaluate")``); the original's ``train.py -e``. Logs under ``eval/``.

    Raises:
        CheckpointError: the checkpoint cannot be read, or its classes or input channels differ from
            the data's.
    """
    if config.checkpoint is None:
        raise ConfigError("checkpoint: required; give a classifier, e.g. checkpoint=runs/finetune/<run>/model.pt "
                          "or checkpoint=pretrained:NAME")
    return run_stage(config, "evaluate", folder, tracker, "eval",
                     lambda folder, _: _evaluate(config, folder))


def _evaluate(config: EvaluateConfig, folder: Path) -> StageResult:
    model, meta = load_classifier(config.checkpoint)
    log.info("evaluate: %s: %s", config.checkpoint, meta["report"])
    splits = make_splits(config)
    expected = {"num_classes": splits.num_classes, "in_channels": splits.labeled.image_shape[-1]}
    found = {key: meta["arch_kwargs"].get(key) for key in expected}
    if found != expected:
        raise CheckpointError(f"checkpoint {config.checkpoint}: {found['num_classes']} classes and "
                              f"{found['in_channels']} input channels; data source {config.data.source!r} has "
                              f"{expected['num_classes']} and {expected['in_channels']}")
    save_manifest(folder, splits)
    normalization = meta["normalization"] or {"mean": splits.mean, "std": splits.std}
    device = run_device(config.trainer)
    batches = eval_loader(splits.test, normalization["mean"], normalization["std"], device, config.batch_size)
    labels, _, _ = predict(model, batches, device)
    report = classification_report(torch.from_numpy(labels), torch.from_numpy(splits.test.targets), splits.counts,
                                   config.shot_thresholds)
    write_figures(folder / "figures", model, splits, batches, report, config.seed)
    metrics = {"test": report, "load_report": meta["report"], "checkpoint": config.checkpoint,
               "checkpoint_file": str(resolve_checkpoint(config.checkpoint)), "layout": meta["layout"],
               "arch": meta["arch"], "arch_kwargs": meta["arch_kwargs"], "labeled_counts": splits.counts}
    write_json(folder / "metrics.json", metrics)
    return StageResult(folder, metrics, {"metrics": folder / "metrics.json"})


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
def write_figures(folder: Path, model: nn.Module, splits: LTSplits,
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
