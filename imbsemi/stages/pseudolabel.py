"""Pseudo-labelling: predict the unlabeled pool with a classifier -> PseudoLabels file, and per-class
pseudo-label recall / precision against the pool's reference labels where they exist."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imbsemi import plots
from imbsemi.accel import run_device
from imbsemi.checkpoints import load_classifier
from imbsemi.classifier.pseudo_labels import PseudoLabels, predict
from imbsemi.config import PseudolabelConfig
from imbsemi.data.loader import eval_loader
from imbsemi.errors import CheckpointError
from imbsemi.metrics import classification_report
from imbsemi.stages.run import StageRun, run_stage
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.tracking import Tracker

log = logging.getLogger("imbsemi")


def run_pseudolabel(config: PseudolabelConfig, folder: Path | None = None,
                    tracker: Tracker | None = None) -> StageResult:
    """Label every pool image with ``config.checkpoint``; write ``pseudo_labels.npz`` (+ .json) and
    ``metrics.json`` in the run folder (default: ``run_folder(config, "pseudolabel")``). Logs the
    pseudo-label quality to ``tracker`` under ``pseudo/`` (None: a run of its own when ``logger.wandb``
    is set). Result paths: ``pseudo_labels``."""
    return run_stage(PSEUDOLABEL, config, folder, tracker)


def _label_pool(run: StageRun, _: Tracker) -> dict[str, Any]:
    config, folder, splits = run.config, run.folder, run.splits
    model, meta = load_classifier(config.checkpoint)
    log.info("pseudolabel: %s: %s", config.checkpoint, meta["report"])
    if meta["arch_kwargs"]["num_classes"] != splits.num_classes:
        raise CheckpointError(f"checkpoint {config.checkpoint}: {meta['arch_kwargs']['num_classes']} classes, "
                              f"but data source {config.data.source!r} has {splits.num_classes}")
    pool = splits.pool
    device = run_device(config.trainer)
    # imbsemi files carry their normalisation; other layouts get the data's (as their training used)
    normalization = meta["normalization"] or {"mean": splits.mean, "std": splits.std}
    batches = eval_loader(pool, normalization["mean"], normalization["std"], device, config.batch_size)
    labels, confidences, probabilities = predict(model, batches, device)
    relevant = pool.targets >= 0
    accuracy = float((labels[relevant] == pool.targets[relevant]).mean()) if relevant.any() else None
    report = classification_report(torch.from_numpy(labels[relevant]), torch.from_numpy(pool.targets[relevant]),
                                   splits.counts) if relevant.any() else None
    provenance = {"pool_fingerprint": pool.fingerprint(), "pool_size": len(pool), "checkpoint": config.checkpoint,
                  "checkpoint_sha256": run.inputs["checkpoint"]["sha256"], "seed": config.seed,
                  "config_hash": run.config_hash, "reference_accuracy": accuracy}
    path = folder / "pseudo_labels.npz"
    PseudoLabels(labels, confidences, provenance, probabilities if config.save_probabilities else None).save(path)
    classes = splits.num_classes
    if report is not None:
        plots.per_class_bars(folder / "figures" / "pseudo_labels.png", splits.counts,
                             {"recall": report["per_class_acc"], "precision": report["per_class_precision"]},
                             "pseudo-labels against reference labels")
    metrics = {"reference_accuracy": accuracy, "pool_size": len(pool), "reference_report": report,
               "pseudo_label_counts": np.bincount(labels, minlength=classes).tolist(),
               "irrelevant_pseudo_label_counts": np.bincount(labels[~relevant], minlength=classes).tolist()}
    return metrics


def _summary(config: PseudolabelConfig, result: StageResult) -> str:
    accuracy = result.metrics["reference_accuracy"]
    shown = "n/a" if accuracy is None else f"{accuracy:.3f}"
    return (f"pseudolabel: {result.metrics['pool_size']} pool images, accuracy vs reference labels {shown}; "
            f"-> {result.paths['pseudo_labels']}")


PSEUDOLABEL = Stage("pseudolabel", PseudolabelConfig, _label_pool,
                    outputs={"pseudo_labels": "pseudo_labels.npz", "pseudo_labels_record": "pseudo_labels.json"},
                    inputs={"checkpoint": ("model",)}, required=("checkpoint",), prefix=lambda config: "pseudo",
                    description="pseudo-label the unlabeled pool with a classifier checkpoint", summary=_summary)
