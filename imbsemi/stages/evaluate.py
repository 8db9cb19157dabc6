"""Evaluation without training: a classifier checkpoint (any layout) on the test split."""
from __future__ import annotations

import logging

from pathlib import Path
from typing import Any

import torch

from imbsemi.accel import run_device
from imbsemi.checkpoints import load_classifier
from imbsemi.classifier.pseudo_labels import predict
from imbsemi.config import EvaluateConfig
from imbsemi.data.loader import eval_loader
from imbsemi.errors import CheckpointError
from imbsemi.metrics import classification_report
from imbsemi.released import resolve_checkpoint
from imbsemi.stages.figures import write_figures
from imbsemi.stages.run import StageRun, run_stage
from imbsemi.stages.stage import Stage, StageResult
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
    return run_stage(EVALUATE, config, folder, tracker)


def _evaluate(run: StageRun, _: Tracker) -> dict[str, Any]:
    config, folder = run.config, run.folder
    model, meta = load_classifier(config.checkpoint)
    log.info("evaluate: %s: %s", config.checkpoint, meta["report"])
    splits = run.splits
    expected = {"num_classes": splits.num_classes, "in_channels": splits.labeled.image_shape[-1]}
    found = {key: meta["arch_kwargs"].get(key) for key in expected}
    if found != expected:
        raise CheckpointError(f"checkpoint {config.checkpoint}: {found['num_classes']} classes and "
                              f"{found['in_channels']} input channels; data source {config.data.source!r} has "
                              f"{expected['num_classes']} and {expected['in_channels']}")
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
    return metrics


def _summary(config: EvaluateConfig, result: StageResult) -> str:
    metrics, test = result.metrics, result.metrics["test"]
    return (f"{metrics['arch']} ({metrics['layout']} layout) on {config.data.source} test: "
            + " ".join(f"{key}={100 * test[key]:.2f}" for key in ("acc", "balanced_acc", "many", "medium", "few"))
            + f"\nper-class: {' '.join(f'{100 * a:.1f}' for a in test['per_class_acc'])}; written to {result.folder}")


EVALUATE = Stage("evaluate", EvaluateConfig, _evaluate, outputs={"metrics": "metrics.json"},
                 inputs={"checkpoint": ("model",)}, required=("checkpoint",), prefix=lambda config: "eval",
                 description="evaluate --config FILE checkpoint=PATH: test a classifier checkpoint (any layout), "
                             "no training", summary=_summary)
