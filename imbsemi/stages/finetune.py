"""Stages 2 and 3: a classifier on the labeled set (optionally from an SSP backbone), on labeled +
pseudo-labeled images (self-training), cRT, or tau-normalisation of a trained classifier."""
from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from imbsemi.checkpoints import load_backbone, load_classifier
from imbsemi.classifier import CLASSIFIER_METHODS
from imbsemi.classifier.module import ClassifierModule
from imbsemi.classifier.pseudo_labels import PseudoLabels
from imbsemi.classifier.test_curve import TestCurve
from imbsemi.config import FinetuneConfig
from imbsemi.data.augment import BatchAugment
from imbsemi.data.datamodule import LTDataModule, PseudoLabeledPool, TrainSpec
from imbsemi.data.files import ImageFiles
from imbsemi.data.paired_loader import StepBatches
from imbsemi.data.recipe import training_recipe
from imbsemi.data.sampling import class_sampling_probabilities, drw_start_epoch, effective_rule
from imbsemi.errors import CheckpointError, ConfigError, DataError
from imbsemi.losses import LOSSES
from imbsemi.losses.weighting import WeightSchedule
from imbsemi.models.heads import tau_normalize
from imbsemi.optim import last_decay_epoch
from imbsemi.registry import build, lookup
from imbsemi.stages.build import Splits, make_model
from imbsemi.stages.ensemble import fit_ensemble
from imbsemi.stages.export import export_model
from imbsemi.stages.figures import write_figures
from imbsemi.stages.run import StageRun, run_stage
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.stages.trainer import best_score, make_trainer, resume_from
from imbsemi.tracking import Tracker

TAU_GRID = [round(0.1 * i, 1) for i in range(21)]
META_STREAM = 4  # the seed stream of Meta-Weight-Net's meta batches
log = logging.getLogger("imbsemi")


def with_loss_head(config: FinetuneConfig) -> FinetuneConfig:
    """Give the model the cosine head when the loss needs it (LDAM) and the user did not choose."""
    needs_norm = getattr(lookup(LOSSES, config.loss.name, "loss.name"), "requires_normed_head", False)
    if not needs_norm or "use_norm" in config.model.kwargs:
        return config
    model = dataclasses.replace(config.model, kwargs={**config.model.kwargs, "use_norm": True})
    return dataclasses.replace(config, model=model)


def pseudo_labeled_pool(config: FinetuneConfig, splits: Splits) -> PseudoLabeledPool | None:
    """The pseudo-labels of ``config.pseudo_labels`` mapped onto this config's pool, with the
    self-training settings (None without pseudo-labels)."""
    if config.pseudo_labels is None:
        return None
    pseudo = PseudoLabels.load(config.pseudo_labels)
    labels, confidences = pseudo.for_pool(splits.pool, config.pseudo_labels)
    st = config.self_training
    if st.soft and pseudo.probabilities is None:
        raise DataError(f"self_training.soft: {config.pseudo_labels} has no probabilities; make it with "
                        "imbsemi pseudolabel ... save_probabilities=true")
    return PseudoLabeledPool(labels, confidences, st.threshold, st.omega, pseudo.probabilities if st.soft else None)


def initial_model(config: FinetuneConfig, splits: Splits) -> tuple[nn.Module, str | None]:
    """The network to train: fresh, from a backbone (``init``), or the ``init`` classifier (tau_norm)."""
    if config.mode in ("crt", "tau_norm") and config.init is None:
        raise ConfigError(f"mode: {config.mode} needs init=PATH, a trained classifier's model.pt")
    if config.mode == "tau_norm" and config.tau is None and not len(splits.val):
        raise ConfigError("tau: null picks tau on the validation split, but data.val_per_class = 0; "
                          "give tau or a validation split")
    if config.mode == "tau_norm":
        model, meta = load_classifier(config.init)
        if (meta["arch"], meta["arch_kwargs"]["num_classes"]) != (config.model.arch, splits.num_classes):
            raise CheckpointError(f"checkpoint {config.init}: {meta['arch']} with {meta['arch_kwargs']['num_classes']}"
                                  f" classes; expected {config.model.arch} with {splits.num_classes}")
        return model, "loaded the whole classifier"
    model = make_model(config, splits, splits.num_classes)
    # cRT retrains the classifier from a fresh head (Kang et al.); other modes keep a head that fits
    report = load_backbone(model, config.init, keep_head=config.mode != "crt") if config.init is not None else None
    return model, report


def choose_tau(module: ClassifierModule, trainer: pl.Trainer, datamodule: LTDataModule) -> float:
    """The tau of TAU_GRID whose tau-normalised head has the best validation ``selection_metric``."""
    scores = {}
    for tau in TAU_GRID:
        candidate = copy.deepcopy(module)
        tau_normalize(candidate.model, tau)
        scores[tau] = trainer.validate(candidate, datamodule=datamodule, verbose=False)[0][module.monitor]
    return max(scores, key=scores.get)


def _tau_norm(config: FinetuneConfig, module: ClassifierModule, trainer: pl.Trainer,
              datamodule: LTDataModule) -> tuple[float, float | None]:
    """Rescale the head by tau (given or chosen on validation) and test it; (tau, validation score)."""
    tau = config.tau if config.tau is not None else choose_tau(module, trainer, datamodule)
    tau_normalize(module.model, tau)
    trainer.test(module, datamodule=datamodule, verbose=False)
    has_val = len(datamodule.splits.val) > 0
    return tau, trainer.validate(module, datamodule=datamodule, verbose=False)[0][module.monitor] if has_val else None


def _train_and_select(config: FinetuneConfig, module: ClassifierModule, trainer: pl.Trainer,
                      datamodule: LTDataModule, run: StageRun) -> tuple[float | None, int, dict[str, Any]]:
    """Fit; test and export the last epoch (``model_last.pt``); then load and test the selected
    checkpoint. Returns (its validation score, its 0-indexed epoch, the last epoch's test report)."""
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from(run.folder, "finetune"))
    trainer.test(module, datamodule=datamodule, verbose=False)  # the last epoch's weights
    test_last = module.test_report
    export_model(run.folder / "model_last.pt", module.model, "classifier", run, config.model,
                 provenance={"epoch": config.epochs - 1, "init": config.init, "pseudo_labels": config.pseudo_labels})
    trainer.test(module, datamodule=datamodule, ckpt_path="best", verbose=False)
    return best_score(trainer), module.loaded_epoch, test_last


def run_finetune(config: FinetuneConfig, folder: Path | None = None, tracker: Tracker | None = None) -> StageResult:
    """Train (or, for tau_norm, adjust) a classifier, select it on the validation split, report the test set.

    Writes ``model.pt`` (the selected classifier; see ``selection``), ``model_last.pt`` (the last
    epoch's), ``metrics.json`` (``test``: the selected model, ``test_last``, ``test_curve_best``: the
    best test epoch of the diagnostic curve), the data manifest and figures in the run folder
    (default: ``run_folder(config, "finetune")``). Logs to ``tracker`` under ``base/`` (``selftrain/``
    with pseudo-labels; None: a wandb run of its own when ``logger.wandb`` is set). Result paths:
    ``model``, ``model_last``.
    """
    return run_stage(FINETUNE, config, folder, tracker)


def meta_batches(config: FinetuneConfig, splits: Splits) -> StepBatches:
    """The class-balanced meta set of Meta-Weight-Net: the validation split, a batch per step (as many
    images as a training batch, at most the whole split), augmented as the training images."""
    if not len(splits.val) or isinstance(splits.val, ImageFiles):
        raise ConfigError(f"method.name = {config.method.name}: meta-trains on the validation split held in memory; "
                          f"data.val_per_class = {config.data.val_per_class} with data.source = {config.data.source} "
                          "gives none: use val_per_class > 0 and a source held in memory")
    aug = config.data.augment
    transform = BatchAugment(torch.tensor(splits.mean), torch.tensor(splits.std),
                             training_recipe(flip=aug.flip, crop_padding=aug.crop_padding))
    return StepBatches(splits.val, min(config.optim.batch_size, len(splits.val)), transform, config.seed, META_STREAM)


def classifier_module(config: FinetuneConfig, splits: Splits, model: nn.Module, counts: list[int],
                      rule: str) -> ClassifierModule:
    """The ``method`` ClassifierModule (CLASSIFIER_METHODS) of the run, with its loss and weight schedule."""
    method = lookup(CLASSIFIER_METHODS, config.method.name, "method.name")
    loss = build(LOSSES, config.loss.name, config.loss.kwargs, "loss.name", class_counts=counts)
    schedule = WeightSchedule(rule, counts, config.rule.weights, config.rule.beta,
                              drw_start_epoch(config.rule.drw_epoch, config.rule.drw_fraction, config.epochs))
    needs = {"meta_batches": meta_batches(config, splits)} if method.uses_meta_set else {}
    return build(CLASSIFIER_METHODS, config.method.name, config.method.kwargs, "method.name", model=model, loss=loss,
                 optim=config.optim, epochs=config.epochs, train_counts=splits.counts,
                 compile_model=config.model.compile, weight_schedule=schedule, posthoc_tau=config.posthoc_tau,
                 freeze_backbone=config.mode == "crt", shot_thresholds=config.shot_thresholds,
                 select_from_epoch=last_decay_epoch(config.epochs) if config.selection == "last_decay" else 0,
                 selection_metric=config.selection_metric, **needs)


def _finetune(run: StageRun, track: Tracker) -> dict[str, Any]:
    config, folder, splits = with_loss_head(run.config), run.folder, run.splits
    if config.mode == "ensemble":
        return fit_ensemble(config, splits, folder)
    rule = effective_rule(config.rule.name, config.mode)
    second = lookup(CLASSIFIER_METHODS, config.method.name, "method.name").second_sampler
    spec = TrainSpec(config.optim.batch_size, pseudo_labeled_pool(config, splits), rule, config.rule.beta,
                     config.self_training.unlabeled_share, second_rule=second)
    datamodule = LTDataModule(splits, spec)
    counts = datamodule.train_set.class_counts()
    model, init_report = initial_model(config, splits)
    if init_report:
        log.info("finetune: init from %s: %s", config.init, init_report)
    module = classifier_module(config, splits, model, counts, rule)
    selects = len(splits.val) > 0 and config.selection != "last"
    curve = TestCurve(splits.test, splits.mean, splits.std, splits.counts, config.shot_thresholds,
                      config.test_curve_every, last_decay_epoch(config.epochs))
    trainer = make_trainer(config, folder, "finetune", config.epochs, module.selection_monitor if selects else None,
                           [curve] if config.test_curve else [], track, validate=len(splits.val) > 0)
    tau, selected_epoch, test_last = None, None, None
    if config.mode == "tau_norm":
        tau, best_val = _tau_norm(config, module, trainer, datamodule)
    else:
        best_val, selected_epoch, test_last = _train_and_select(config, module, trainer, datamodule, run)
    model_path = folder / "model.pt"
    resampled = datamodule.sample_weights is not None and not datamodule.mixes_pool_share
    metrics: dict[str, Any] = {
        "model": str(model_path), "test": module.test_report, "best_val": best_val, "mode": config.mode,
        "method": config.method.name, "selection": config.selection if selects else "last",
        "selection_metric": config.selection_metric,
        "selected_epoch": selected_epoch,
        "test_last": test_last, "test_curve_best": curve.summary(),
        "rule": rule, "tau": tau, "init": {"path": config.init, "report": init_report},
        "class_sampling": class_sampling_probabilities(counts, rule, config.rule.beta).tolist() if resampled else None,
        "pseudo_labels": config.pseudo_labels, "train_size": len(datamodule.train_set),
        "pseudo_kept": len(datamodule.train_set) - len(splits.labeled) if config.pseudo_labels else None,
        "labeled_counts": splits.counts}
    export_model(model_path, model, "classifier", run, config.model,
                 provenance={f"val_{config.selection_metric}": best_val, "init": config.init,
                             "pseudo_labels": config.pseudo_labels, "method": config.method.name})
    if trainer.is_global_zero:  # under DDP one process writes the outputs
        write_figures(folder / "figures", model, splits, datamodule.eval_loader(splits.test), module.test_report,
                      config.seed)
    return metrics


def _summary(config: FinetuneConfig, result: StageResult) -> str:
    test = result.metrics["test"]
    made = result.paths.get("model", result.paths.get("estimator"))
    return (f"finetune: test acc={test['acc']:.3f} balanced_acc={test['balanced_acc']:.3f} "
            f"macro_f1={test['macro_f1']:.3f} g_mean={test['g_mean']:.3f}; {made.stem} -> {made}")


FINETUNE = Stage("finetune", FinetuneConfig, _finetune,
                 outputs={"model": "model.pt", "model_last": "model_last.pt", "estimator": "estimator.joblib"},
                 inputs={"init": ("backbone", "model"), "pseudo_labels": ("pseudo_labels",)},
                 prefix=lambda config: "selftrain" if config.pseudo_labels else "base",
                 description="a classifier on the labeled set (stage 2), from an SSP backbone (init), on labeled + "
                             "pseudo-labeled images (stage 3), cRT, tau-normalisation or an imbalanced-learning "
                             "ensemble on a network's features",
                 summary=_summary)
