"""`finetune`: stages 2 and 3, a classifier on the labeled set (optionally from an SSP backbone),
or on labeled + pseudo-labeled images (self-training)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from imbsemi.checkpoints import load_backbone
from imbsemi.classifier.module import ClassifierModule
from imbsemi.classifier.pseudo_labels import PseudoLabels
from imbsemi.cli.common import (best_score, export_model, make_datamodule, make_model, make_trainer, parse_config,
                                save_manifest, start_run, user_errors_to_exit)
from imbsemi.config import FinetuneConfig
from imbsemi.io import write_json
from imbsemi.losses import LOSSES
from imbsemi.registry import build


def run_finetune(config: FinetuneConfig, folder: Path) -> dict[str, Any]:
    """Train, select the best epoch on the validation split, report the test set.

    Writes ``folder/model.pt`` (the selected classifier) and ``folder/metrics.json``; returns the metrics.
    """
    datamodule = make_datamodule(config, config.optim.batch_size)
    if config.pseudo_labels is not None:
        pseudo = PseudoLabels.load(config.pseudo_labels)
        pseudo.check_pool(datamodule.pool, config.pseudo_labels)
        datamodule.use_pseudo_labels(pseudo.labels)
    save_manifest(folder, datamodule)
    model = make_model(config, datamodule, datamodule.num_classes)
    init_report = load_backbone(model, config.init) if config.init is not None else None
    if init_report:
        print(f"finetune: init from {config.init}: {init_report}")
    loss = build(LOSSES, config.loss.name, config.loss.kwargs, "loss.name",
                 class_counts=datamodule.train_set.class_counts())
    module = ClassifierModule(model, loss, config.optim, config.epochs, datamodule.counts, config.model.compile)
    trainer = make_trainer(config, folder, config.epochs, module.monitor if len(datamodule.val) else None)
    trainer.fit(module, datamodule=datamodule)
    trainer.test(module, datamodule=datamodule, ckpt_path="best", verbose=False)
    model_path = folder / "model.pt"
    metrics = {"model": str(model_path), "test": module.test_report, "best_val": best_score(trainer),
               "init": {"path": config.init, "report": init_report}, "pseudo_labels": config.pseudo_labels,
               "train_size": len(datamodule.train_set), "labeled_counts": datamodule.counts}
    export_model(model_path, model, "classifier", config, datamodule,
                 provenance={"val_balanced_acc": metrics["best_val"], "init": config.init,
                             "pseudo_labels": config.pseudo_labels})
    write_json(folder / "metrics.json", metrics)
    report = module.test_report
    print(f"finetune: test acc={report['acc']:.3f} balanced_acc={report['balanced_acc']:.3f}; "
          f"model -> {model_path}")
    return metrics


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(FinetuneConfig, "finetune", "Train a classifier (stage 2) or self-train "
                                "on labeled + pseudo-labeled data (stage 3).", argv)
    run_finetune(config, start_run(config, "finetune", stem))
    return 0
