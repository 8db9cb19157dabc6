"""`imbsemi pseudolabel`: predict the unlabeled pool with a classifier -> PseudoLabels file, and
per-class pseudo-label recall / precision against the pool's reference labels where they exist."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from imbsemi import plots
from imbsemi.checkpoints import load_classifier
from imbsemi.classifier.pseudo_labels import PseudoLabels, predict
from imbsemi.cli.common import make_datamodule, parse_config, save_manifest, start_run
from imbsemi.config import PseudolabelConfig, config_hash
from imbsemi.data.augment import Standardize
from imbsemi.data.loader import DeviceLoader
from imbsemi.errors import CheckpointError, ConfigError
from imbsemi.io import sha256_file, write_json
from imbsemi.metrics import classification_report


def run_pseudolabel(config: PseudolabelConfig, folder: Path) -> Path:
    """Label every pool image with ``config.checkpoint``; write ``folder/pseudo_labels.npz`` (+ .json)."""
    if config.checkpoint is None:
        raise ConfigError("checkpoint: required; give the classifier's model.pt, e.g. checkpoint=runs/.../model.pt")
    model, meta = load_classifier(config.checkpoint)
    datamodule = make_datamodule(config, config.batch_size)
    if meta["arch_kwargs"]["num_classes"] != datamodule.num_classes:
        raise CheckpointError(f"checkpoint {config.checkpoint}: {meta['arch_kwargs']['num_classes']} classes, "
                              f"but data source {config.data.source!r} has {datamodule.num_classes}")
    pool = datamodule.pool
    save_manifest(folder, datamodule)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    mean, std = (torch.tensor(meta["normalization"][k], device=device) for k in ("mean", "std"))
    batches = DeviceLoader(pool, config.batch_size, Standardize(mean, std), device=device)
    labels, confidences, probabilities = predict(model, batches, device)
    relevant = pool.targets >= 0
    accuracy = float((labels[relevant] == pool.targets[relevant]).mean()) if relevant.any() else None
    report = classification_report(torch.from_numpy(labels[relevant]), torch.from_numpy(pool.targets[relevant]),
                                   datamodule.counts) if relevant.any() else None
    provenance = {"pool_fingerprint": pool.fingerprint(), "pool_size": len(pool), "checkpoint": config.checkpoint,
                  "checkpoint_sha256": sha256_file(config.checkpoint), "seed": config.seed,
                  "config_hash": config_hash(config), "reference_accuracy": accuracy}
    path = folder / "pseudo_labels.npz"
    PseudoLabels(labels, confidences, provenance, probabilities if config.save_probabilities else None).save(path)
    classes = datamodule.num_classes
    if report is not None:
        plots.per_class_bars(folder / "figures" / "pseudo_labels.png", datamodule.counts,
                             {"recall": report["per_class_acc"], "precision": report["per_class_precision"]},
                             "pseudo-labels against reference labels")
    write_json(folder / "metrics.json", {
        "reference_accuracy": accuracy, "pool_size": len(pool), "reference_report": report,
        "pseudo_label_counts": np.bincount(labels, minlength=classes).tolist(),
        "irrelevant_pseudo_label_counts": np.bincount(labels[~relevant], minlength=classes).tolist()})
    shown = "n/a" if accuracy is None else f"{accuracy:.3f}"
    print(f"pseudolabel: {len(pool)} pool images, accuracy vs reference labels {shown}; -> {path}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(PseudolabelConfig, "imbsemi pseudolabel",
                                "Pseudo-label the unlabeled pool with a trained classifier.", argv)
    run_pseudolabel(config, start_run(config, "pseudolabel", stem))
    return 0
