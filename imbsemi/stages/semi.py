"""Joint labeled + unlabeled training (FixMatch and its long-tail corrections) on the labeled set and the
pool, evaluated on the test split every interval and reported by the LT-SSL protocol."""
from __future__ import annotations

import dataclasses
import logging
import math
import statistics
from pathlib import Path
from typing import Any

from imbsemi.checkpoints import load_backbone
from imbsemi.config import SemiConfig
from imbsemi.data.paired_datamodule import PairedDataModule
from imbsemi.errors import ConfigError
from imbsemi.metrics import SUMMARY_METRICS
from imbsemi.registry import build
from imbsemi.semi import SEMI_METHODS
from imbsemi.stages.build import make_model
from imbsemi.stages.export import export_model
from imbsemi.stages.run import StageRun, run_stage
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.stages.trainer import make_trainer, resume_from
from imbsemi.tracking import Tracker

log = logging.getLogger("imbsemi")


def run_semi(config: SemiConfig, folder: Path | None = None, tracker: Tracker | None = None) -> StageResult:
    """Train ``config.method`` jointly on the labeled set and the pool for ``steps`` steps.

    Writes ``model.pt`` (the EMA classifier at the last step) and ``metrics.json``: ``test`` is the
    protocol's number, the mean of the last ``last_evals`` evaluations (per class and many/medium/few
    too); ``test_median``, ``test_best`` (the best evaluation: a diagnostic that peeks at the test
    split), ``test_final`` (the last step's full report) and ``evaluations`` (each evaluation with the
    pseudo-labels' mask rate, precision and recall per class). Result path: ``model``.
    """
    return run_stage(SEMI, config, folder, tracker)


def protocol_reports(history: list[dict[str, Any]], last: int, final: dict[str, Any]) -> dict[str, Any]:
    """The mean and median of the last ``last`` evaluations (each as ``final``'s report, its shot groups
    and thresholds, with the averaged numbers) and the best evaluation by accuracy."""
    tail = history[-last:]

    def combined(average: Any) -> dict[str, Any]:
        report = {key: value for key, value in final.items() if key not in ("confusion", "per_class_precision")}
        report.update({key: average([entry[key] for entry in tail]) for key in SUMMARY_METRICS})
        report["per_class_acc"] = [average(values) for values in zip(*(entry["per_class_acc"] for entry in tail))]
        report["evaluations"] = len(tail)
        return report

    best = max(history, key=lambda entry: entry["acc"])
    return {"test": combined(statistics.fmean), "test_median": combined(statistics.median),
            "test_best": {key: best[key] for key in ("step", *SUMMARY_METRICS)}}


def _semi(run: StageRun, track: Tracker) -> dict[str, Any]:
    config, folder, splits = run.config, run.folder, run.splits
    if not splits.has_pool:
        raise ConfigError(f"data.source = {config.data.source}: joint training needs an unlabeled pool, which "
                          "split-file datasets lack")
    model = make_model(config, splits, splits.num_classes)
    init_report = load_backbone(model, config.init) if config.init is not None else None
    if init_report:
        log.info("semi: init from %s: %s", config.init, init_report)
    module = build(SEMI_METHODS, config.method.name, config.method.kwargs, "method.name", model=model,
                   settings=config, labeled_counts=splits.counts, pool_size=len(splits.pool))
    datamodule = PairedDataModule(splits, config, module.strong_views, module.labeled_additions)
    trainer_config = dataclasses.replace(config, trainer={
        "reload_dataloaders_every_n_epochs": 1, "num_sanity_val_steps": 0,
        "log_every_n_steps": min(50, config.eval_every),
        **config.trainer})
    trainer = make_trainer(trainer_config, folder, "semi", math.ceil(config.steps / config.eval_every), None,
                           tracker=track)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from(folder, "semi"))
    trainer.validate(module, datamodule=datamodule, verbose=False)  # the last step's full report
    model_path = folder / "model.pt"
    export_model(model_path, module.export_network(), "classifier", run, config.model,
                 provenance={"method": config.method.name, "steps": config.steps, "init": config.init})
    return {"model": str(model_path), **protocol_reports(module.history, config.last_evals, module.final_report),
            "test_final": module.final_report, "evaluations": module.history, "method": config.method.name,
            "init": {"path": config.init, "report": init_report}, "labeled_counts": splits.counts,
            "pool_size": len(splits.pool), "train_size": len(splits.labeled)}


def _summary(config: SemiConfig, result: StageResult) -> str:
    test, best = result.metrics["test"], result.metrics["test_best"]
    return (f"semi ({config.method.name}): test acc={test['acc']:.3f} balanced_acc={test['balanced_acc']:.3f} "
            f"(mean of the last {test['evaluations']} evaluations; best acc={best['acc']:.3f} at step "
            f"{best['step']}); model -> {result.paths['model']}")


SEMI = Stage("semi", SemiConfig, _semi, outputs={"model": "model.pt"}, inputs={"init": ("backbone", "model")},
             prefix=lambda config: "semi", summary=_summary,
             description="joint training on labeled and unlabeled batches: FixMatch and its long-tail corrections "
                         "(darp, abc, acr, crest, daso), from an SSP backbone (init)")
