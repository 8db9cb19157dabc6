"""`finetune`: stages 2 and 3, a classifier on the labeled set (optionally from an SSP backbone),
or on labeled + pseudo-labeled images (self-training); also cRT and tau-normalisation."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from imbsemi import plots

from imbsemi.checkpoints import load_backbone, load_classifier
from imbsemi.classifier.module import ClassifierModule
from imbsemi.classifier.pseudo_labels import PseudoLabels
from imbsemi.cli.common import (best_score, export_model, make_datamodule, make_model, make_trainer, parse_config,
                                save_manifest, start_run, user_errors_to_exit)
from imbsemi.config import FinetuneConfig
from imbsemi.data.datamodule import LTDataModule
from imbsemi.errors import CheckpointError, ConfigError, DataError
from imbsemi.io import write_json
from imbsemi.losses import LOSSES
from imbsemi.losses.weighting import (WeightSchedule, class_sampling_probabilities, sample_weights,
                                      with_unlabeled_share)
from imbsemi.models.heads import tau_normalize
from imbsemi.registry import build, lookup

TAU_GRID = [round(0.1 * i, 1) for i in range(21)]


def with_loss_head(config: FinetuneConfig) -> FinetuneConfig:
    """Give the model the cosine head when the loss needs it (LDAM) and the user did not choose."""
    needs_norm = getattr(lookup(LOSSES, config.loss.name, "loss.name"), "requires_normed_head", False)
    if not needs_norm or "use_norm" in config.model.kwargs:
        return config
    model = dataclasses.replace(config.model, kwargs={**config.model.kwargs, "use_norm": True})
    return dataclasses.replace(config, model=model)


def initial_model(config: FinetuneConfig, datamodule: LTDataModule) -> tuple[nn.Module, str | None]:
    """The network to train: fresh, from a backbone (``init``), or the ``init`` classifier (tau_norm)."""
    if config.mode in ("crt", "tau_norm") and config.init is None:
        raise ConfigError(f"mode: {config.mode} needs init=PATH, a trained classifier's model.pt")
    if config.mode == "tau_norm" and config.tau is None and not len(datamodule.val):
        raise ConfigError("tau: null picks tau on the validation split, but data.val_per_class = 0; "
                          "give tau or a validation split")
    if config.mode == "tau_norm":
        model, meta = load_classifier(config.init)
        if (meta["arch"], meta["arch_kwargs"]["num_classes"]) != (config.model.arch, datamodule.num_classes):
            raise CheckpointError(f"checkpoint {config.init}: {meta['arch']} with {meta['arch_kwargs']['num_classes']}"
                                  f" classes; expected {config.model.arch} with {datamodule.num_classes}")
        return model, "loaded the whole classifier"
    model = make_model(config, datamodule, datamodule.num_classes)
    report = load_backbone(model, config.init) if config.init is not None else None
    if config.mode == "crt":  # the head stays freshly initialised; everything else is frozen
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith("fc.")
    return model, report


def choose_tau(module: ClassifierModule, trainer: pl.Trainer, datamodule: LTDataModule) -> float:
    """The tau of TAU_GRID whose tau-normalised head has the best validation balanced accuracy."""
    scores = {}
    for tau in TAU_GRID:
        candidate = copy.deepcopy(module)
        tau_normalize(candidate.model, tau)
        scores[tau] = trainer.validate(candidate, datamodule=datamodule, verbose=False)[0][module.monitor]
    return max(scores, key=scores.get)


@torch.inference_mode()
def write_figures(folder: Path, model: nn.Module, datamodule: LTDataModule, report: dict[str, Any],
                  seed: int) -> None:
    """figures/per_class.png (test accuracy per class vs class size) and figures/tsne.png (test features)."""
    plots.per_class_bars(folder / "per_class.png", datamodule.counts, {"test accuracy": report["per_class_acc"]},
                         "per-class test accuracy")
    model.eval()
    device = next(model.parameters()).device
    features = torch.cat([model.features(x.to(device)).float().cpu() for x, _ in datamodule.test_dataloader()])
    coordinates, chosen = plots.tsne_embedding(features.numpy(), seed)
    plots.tsne_scatter(folder / "tsne.png", coordinates, datamodule.test.targets[chosen], "t-SNE of test features")


def run_finetune(config: FinetuneConfig, folder: Path) -> dict[str, Any]:
    """Train (or, for tau_norm, adjust) a classifier, select it on the validation split, report the test set.

    Writes ``folder/model.pt`` (the selected classifier) and ``folder/metrics.json``; returns the metrics.
    """
    config = with_loss_head(config)
    datamodule = make_datamodule(config, config.optim.batch_size)
    if config.pseudo_labels is not None:
        pseudo = PseudoLabels.load(config.pseudo_labels)
        labels, confidences = pseudo.for_pool(datamodule.pool, config.pseudo_labels)
        st = config.self_training
        if st.soft and pseudo.probabilities is None:
            raise DataError(f"self_training.soft: {config.pseudo_labels} has no probabilities; make it with "
                            "imbsemi pseudolabel ... save_probabilities=true")
        datamodule.use_pseudo_labels(labels, confidences, st.threshold, st.omega,
                                     pseudo.probabilities if st.soft else None)
    save_manifest(folder, datamodule)
    counts = datamodule.train_set.class_counts()
    rule = "resample" if config.mode == "crt" and config.rule.name == "none" else config.rule.name
    datamodule.sample_weights = sample_weights(datamodule.train_set.targets, counts, rule, config.rule.beta)
    mixed = config.self_training.unlabeled_share is not None and datamodule.pseudo_labeled is not None
    if mixed:
        datamodule.sample_weights = with_unlabeled_share(datamodule.sample_weights, len(datamodule.labeled),
                                                         len(datamodule.train_set),
                                                         config.self_training.unlabeled_share)
    model, init_report = initial_model(config, datamodule)
    if init_report:
        print(f"finetune: init from {config.init}: {init_report}")
    loss = build(LOSSES, config.loss.name, config.loss.kwargs, "loss.name", class_counts=counts)
    drw_start = config.rule.drw_epoch if config.rule.drw_epoch is not None else round(
        config.rule.drw_fraction * config.epochs)
    schedule = WeightSchedule(rule, counts, config.rule.weights, config.rule.beta, drw_start)
    module = ClassifierModule(model, loss, config.optim, config.epochs, datamodule.counts, config.model.compile,
                              schedule, config.posthoc_tau, freeze_backbone=config.mode == "crt",
                              shot_thresholds=config.shot_thresholds)
    trainer = make_trainer(config, folder, config.epochs, module.monitor if len(datamodule.val) else None)
    tau = None
    if config.mode == "tau_norm":
        tau = config.tau if config.tau is not None else choose_tau(module, trainer, datamodule)
        tau_normalize(model, tau)
        trainer.test(module, datamodule=datamodule, verbose=False)
        best_val = trainer.validate(module, datamodule=datamodule, verbose=False)[0][module.monitor] \
            if len(datamodule.val) else None
    else:
        trainer.fit(module, datamodule=datamodule)
        trainer.test(module, datamodule=datamodule, ckpt_path="best", verbose=False)
        best_val = best_score(trainer)
    model_path = folder / "model.pt"
    resampled = datamodule.sample_weights is not None and not mixed
    metrics = {"model": str(model_path), "test": module.test_report, "best_val": best_val, "mode": config.mode,
               "rule": rule, "tau": tau, "init": {"path": config.init, "report": init_report},
               "class_sampling": class_sampling_probabilities(counts, rule, config.rule.beta).tolist()
               if resampled else None,
               "pseudo_labels": config.pseudo_labels, "train_size": len(datamodule.train_set),
               "labeled_counts": datamodule.counts}
    export_model(model_path, model, "classifier", config, datamodule,
                 provenance={"val_balanced_acc": best_val, "init": config.init, "pseudo_labels": config.pseudo_labels})
    write_figures(folder / "figures", model, datamodule, module.test_report, config.seed)
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
