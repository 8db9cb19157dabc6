"""The three stages end to end from one pipeline config: SSP -> CE and CE + SSP -> pseudo-labels ->
self-training (CE on labeled + pseudo-labeled images), reusing stages already finished with the same
config."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

from imbsemi import plots
from imbsemi.config import CommonConfig, FinetuneConfig, PipelineConfig, PseudolabelConfig, SSPConfig, config_hash
from imbsemi.io import read_json, write_json
from imbsemi.stages.common import StageResult, run_folder, start_run
from imbsemi.stages.finetune import run_finetune
from imbsemi.stages.pseudolabel import run_pseudolabel
from imbsemi.stages.ssp import run_ssp

VARIANTS = ("ce", "ce+ssp", "ce+pseudo")
OUTPUTS = {"ssp": ("backbone", "backbone.pt"), "finetune": ("model", "model.pt"),
           "pseudolabel": ("pseudo_labels", "pseudo_labels.npz")}  # stage -> (result role, file)
log = logging.getLogger("imbsemi")


def stage_config(cls: type, pipeline: PipelineConfig, folder: Path, name: str, *sections: Any,
                 **extra: Any) -> Any:
    """A stage config: the pipeline's common keys, the given stage sections' keys, and ``extra``."""
    values = {f.name: getattr(pipeline, f.name) for f in dataclasses.fields(CommonConfig)}
    for section in sections:
        values.update({f.name: getattr(section, f.name) for f in dataclasses.fields(section)})
    values.update(out_dir=str(folder), name=name, **extra)
    return cls(**values)


def finished(stage_cfg: CommonConfig, stage: str) -> StageResult | None:
    """The result of a run of ``stage_cfg`` that completed in its run folder with the same config hash
    (its metrics.json, written last, exists), else None."""
    digest = config_hash(stage_cfg)
    folder = run_folder(stage_cfg, stage)
    run, metrics = folder / "run.json", folder / "metrics.json"
    if not (run.is_file() and metrics.is_file() and read_json(run)["config_hash"] == digest):
        return None
    log.info("pipeline: %s/%s already done for config %s; reusing %s", stage, stage_cfg.name, digest, folder)
    role, file = OUTPUTS[stage]
    return StageResult(folder, read_json(metrics), {role: folder / file}, reused=True)


def run_or_reuse(run: Callable[[Any], StageResult], stage_cfg: CommonConfig, stage: str) -> StageResult:
    """``run(stage_cfg)`` unless ``finished`` finds its completed run."""
    return finished(stage_cfg, stage) or run(stage_cfg)


def run_pipeline(config: PipelineConfig, folder: Path | None = None) -> StageResult:
    """Run every stage into sub-folders of the run folder (default: ``run_folder(config, "pipeline")``):
    SSP, CE, CE + SSP, pseudo-labels from CE, CE on labeled + pseudo-labeled with the ``selftrain``
    settings (re-labelled by the last self-trained model for ``rounds`` > 1). Metrics: the test report per variant (ce+pseudo: the last
    round's), the labeled counts and, per stage, its folder and whether it was reused."""
    folder = start_run(config, "pipeline", folder)
    stages: dict[str, StageResult] = {}
    stages["ssp"] = run_or_reuse(run_ssp, stage_config(SSPConfig, config, folder, config.ssp.method.name,
                                                       config.ssp), "ssp")
    ce = stages["ce"] = run_or_reuse(run_finetune, stage_config(FinetuneConfig, config, folder, "ce",
                                                                config.finetune), "finetune")
    stages["ce_ssp"] = run_or_reuse(run_finetune, stage_config(
        FinetuneConfig, config, folder, "ce_ssp", config.finetune, init=str(stages["ssp"].paths["backbone"])),
        "finetune")
    labeler, labeler_name = ce.paths["model"], "ce"
    selftrain = config.selftrain or config.finetune
    for round_index in range(1, config.rounds + 1):
        suffix = "" if round_index == 1 else f"_round{round_index}"
        labels = stages[f"from_{labeler_name}"] = run_or_reuse(run_pseudolabel, stage_config(
            PseudolabelConfig, config, folder, f"from_{labeler_name}", config.pseudolabel,
            checkpoint=str(labeler)), "pseudolabel")
        self_trained = stages[f"ce_pseudo{suffix}"] = run_or_reuse(run_finetune, stage_config(
            FinetuneConfig, config, folder, f"ce_pseudo{suffix}", selftrain,
            pseudo_labels=str(labels.paths["pseudo_labels"])), "finetune")
        labeler, labeler_name = self_trained.paths["model"], f"ce_pseudo{suffix}"
    reports = {"ce": ce.metrics["test"], "ce+ssp": stages["ce_ssp"].metrics["test"],
               "ce+pseudo": self_trained.metrics["test"]}
    metrics = {"config_hash": config_hash(config), "test": reports, "train_counts": ce.metrics["labeled_counts"],
               "stages": {name: {"folder": str(r.folder), "reused": r.reused} for name, r in stages.items()}}
    plots.per_class_bars(folder / "figures" / "per_class_vs_size.png", metrics["train_counts"],
                         {v: reports[v]["per_class_acc"] for v in VARIANTS}, "per-class test accuracy")
    write_json(folder / "metrics.json", metrics)
    return StageResult(folder, metrics, {"figure": folder / "figures" / "per_class_vs_size.png"})
