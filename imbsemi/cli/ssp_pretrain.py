"""`ssp_pretrain`: stage 1, self-supervised pre-training on the labeled images without their labels."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from imbsemi.checkpoints import load_backbone
from imbsemi.cli.common import (best_score, export_model, make_datamodule, make_model, make_trainer, parse_config,
                                restore_best, save_manifest, start_run, user_errors_to_exit)
from imbsemi.config import SSPConfig
from imbsemi.io import write_json
from imbsemi.registry import build
from imbsemi.ssl import SSL_METHODS
from imbsemi.ssl.knn import KNN_K, KNN_T, embed, knn_accuracy


def run_ssp(config: SSPConfig, folder: Path) -> Path:
    """Pre-train ``config.method`` on the long-tailed labeled images; export the best backbone
    (by the method's validation metric) to ``folder/backbone.pt`` and return that path."""
    datamodule = make_datamodule(config, config.optim.batch_size)
    save_manifest(folder, datamodule)
    module = build(SSL_METHODS, config.method.name, config.method.kwargs, "method.name", optim=config.optim,
                   epochs=config.epochs, make_backbone=lambda n: make_model(config, datamodule, n),
                   compile_model=config.model.compile)
    datamodule.train_views = module.views
    monitor = module.monitor if len(datamodule.val) else None
    trainer = make_trainer(config, folder, config.epochs, monitor)
    trainer.fit(module, datamodule=datamodule)
    best = restore_best(module, trainer)
    knn = trainer.callback_metrics.get("val/knn_acc")
    scores = {"selected_by": monitor or "last epoch", "score": best_score(trainer),
              "last_knn_acc": None if knn is None else float(knn)}
    path = folder / "backbone.pt"
    if not trainer.is_global_zero:  # under DDP one process writes the outputs
        return path
    export_model(path, module.backbone, "backbone", config, datamodule,
                 provenance={"method": config.method.name, **scores,
                             "labeled_fingerprint": datamodule.labeled.fingerprint()})
    write_json(folder / "metrics.json", {**scores, "best_checkpoint": best})
    print(f"ssp_pretrain: {config.method.name} {scores}; backbone -> {path}")
    return path


def evaluate_knn(config: SSPConfig, backbone: Path | None, seed: int | None = None) -> float:
    """Test-split kNN accuracy of an exported ``backbone`` with the labeled set as the bank and the
    monitor's k, temperature and layer from ``config.method.kwargs``; with ``backbone`` None, of a
    network initialised with ``seed`` (default ``config.seed``), the reference SSP must beat."""
    datamodule = make_datamodule(config, config.optim.batch_size)
    torch.manual_seed(config.seed if seed is None else seed)
    model = make_model(config, datamodule, datamodule.num_classes).eval()
    if backbone is not None:
        load_backbone(model, backbone)
    kwargs = config.method.kwargs
    layer = kwargs.get("knn_layer")
    bank, bank_labels = embed(model, datamodule.eval_loader(datamodule.labeled), layer)
    features, labels = embed(model, datamodule.eval_loader(datamodule.test), layer)
    return knn_accuracy(features, labels, bank, bank_labels, datamodule.num_classes, kwargs.get("knn_k", KNN_K),
                        kwargs.get("knn_t", KNN_T))


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(SSPConfig, "ssp_pretrain", "Self-supervised pre-training (stage 1).", argv)
    run_ssp(config, start_run(config, "ssp", stem))
    return 0
