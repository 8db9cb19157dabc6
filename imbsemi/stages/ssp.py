"""Stage 1: self-supervised pre-training on the long-tailed labeled images, without their labels."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from imbsemi.config import SSPConfig
from imbsemi.data.datamodule import LTDataModule, TrainSpec
from imbsemi.errors import ConfigError
from imbsemi.registry import build
from imbsemi.ssl import SSL_METHODS
from imbsemi.ssl.base import SSLTraining
from imbsemi.ssl.knn import KNNMonitor, check_layer
from imbsemi.stages.build import Splits, make_model
from imbsemi.stages.export import export_model
from imbsemi.stages.run import StageRun, run_stage
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.stages.trainer import best_score, make_trainer, restore_best, resume_from
from imbsemi.tracking import Tracker


def knn_monitor(config: SSPConfig, splits: Splits, backbone: nn.Module) -> list[KNNMonitor]:
    """The kNN monitor of ``config.knn`` (labeled set as the bank, validation split as the queries);
    none without a validation split."""
    knn = config.knn
    try:
        check_layer(backbone, knn.layer)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    if not len(splits.val):
        return []
    return [KNNMonitor(splits.labeled, splits.val, splits.mean, splits.std, every=knn.every, k=knn.k, t=knn.t,
                       layer=knn.layer)]


def run_ssp(config: SSPConfig, folder: Path | None = None, tracker: Tracker | None = None) -> StageResult:
    """Pre-train ``config.method`` on the long-tailed labeled images; export the best backbone (by the
    method's validation metric, else the last epoch) to ``backbone.pt`` in the run folder (default:
    ``run_folder(config, "ssp")``). Logs to ``tracker`` under ``ssp/`` (None: a wandb run of its own
    when ``logger.wandb`` is set). Result paths: ``backbone``."""
    return run_stage(SSP, config, folder, tracker)


def _pretrain(run: StageRun, track: Tracker) -> dict[str, Any]:
    config, folder, splits = run.config, run.folder, run.splits
    training = SSLTraining(lambda n: make_model(config, splits, n), config.optim, config.epochs, config.model.compile)
    module = build(SSL_METHODS, config.method.name, config.method.kwargs, "method.name", training=training)
    datamodule = LTDataModule(splits, TrainSpec(config.optim.batch_size, views=module.views))
    monitor = module.monitor if len(splits.val) else None
    trainer = make_trainer(config, folder, "ssp", config.epochs, monitor, knn_monitor(config, splits, module.backbone),
                           track, validate=len(splits.val) > 0)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from(folder, "ssp"))
    best = restore_best(module, trainer)
    knn = trainer.callback_metrics.get("val/knn_acc")
    scores = {"selected_by": monitor or "last epoch", "score": best_score(trainer),
              "last_knn_acc": None if knn is None else float(knn)}
    path = folder / "backbone.pt"
    metrics = {**scores, "best_checkpoint": best}
    export_model(path, module.backbone, "backbone", run, config.model, provenance={
        "method": config.method.name, **scores, "labeled_fingerprint": splits.labeled.fingerprint()})
    return metrics


SSP = Stage("ssp", SSPConfig, _pretrain, outputs={"backbone": "backbone.pt"}, inputs={},
            prefix=lambda config: "ssp", command="ssp_pretrain",
            description="self-supervised pre-training (rotation, MoCo v2, SimCLR) -> backbone.pt",
            summary=lambda config, result: (
                f"ssp_pretrain: {config.method.name} "
                f"{ {k: v for k, v in result.metrics.items() if k != 'best_checkpoint'} }; "
                f"backbone -> {result.paths['backbone']}"))
