"""The three stages end to end from one pipeline config: SSP -> CE and CE + SSP -> pseudo-labels ->
self-training (CE on labeled + pseudo-labeled images), reusing stages already finished with the same
config."""
from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any, Callable

from imbsemi import plots
from imbsemi.config import CommonConfig, FinetuneConfig, PipelineConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import config_hash
from imbsemi.io import exclusive, read_json, write_json
from imbsemi.stages.common import StageResult, finished_run, resumable, run_folder, run_stage
from imbsemi.stages.finetune import run_finetune
from imbsemi.stages.pseudolabel import run_pseudolabel
from imbsemi.stages.ssp import run_ssp
from imbsemi.tracking import Tracker, prefixed, stage_summary

VARIANTS = ("ce", "ce+ssp", "ce+pseudo")
log = logging.getLogger("imbsemi")


def stage_config(cls: type, pipeline: PipelineConfig, folder: Path, name: str, *sections: Any,
                 **extra: Any) -> Any:
    """A stage config: the pipeline's common keys, the given stage sections' keys, and ``extra``."""
    values = {f.name: getattr(pipeline, f.name) for f in dataclasses.fields(CommonConfig)}
    for section in sections:
        values.update({f.name: getattr(section, f.name) for f in dataclasses.fields(section)})
    values.update(out_dir=str(folder), name=name, overwrite=False, **extra)
    return cls(**values)


def run_or_reuse(run: Callable[..., StageResult], stage_cfg: CommonConfig, stage: str,
                 tracker: Tracker | None = None) -> StageResult:
    """``run(stage_cfg, tracker=tracker)`` unless its folder holds the finished run of this config and
    inputs (whose summary and figures then go to ``tracker``); an unfinished one resumes, a run of
    another config or of changed input files (e.g. a retrained labelling model) is replaced. Processes
    sharing the stage folder take turns (a lock beside it)."""
    folder = run_folder(stage_cfg, stage)
    with exclusive(folder.parent / ".locks" / f"{folder.name}.stage"):
        done = finished_run(stage_cfg, stage)
        if done is None:
            if folder.exists() and not resumable(folder, stage_cfg):  # another config's or stale: recompute
                shutil.rmtree(folder)
            return run(stage_cfg, tracker=tracker)
    if tracker is not None:
        tracker.log_stage(done.folder, done.metrics)
    return done


def run_pipeline(config: PipelineConfig, folder: Path | None = None, shared: Path | None = None) -> StageResult:
    """Run every stage: SSP, CE, CE + SSP, pseudo-labels from CE, CE on labeled + pseudo-labeled with the
    ``selftrain`` settings (re-labelled by the last self-trained model for ``rounds`` > 1).

    Stages run in sub-folders of the run folder (default: ``run_folder(config, "pipeline")``), or with
    ``shared`` in ``shared/<stage>/<name>-<hash>``: runs that share a stage's config (e.g. the SSP and
    base classifier of a sweep's relevance points with one seed) then run it once. Metrics: the test
    report per variant (ce+pseudo: the last round's), the labeled counts and, per stage, its folder
    and whether it was reused; ``summary.json``: the flat summary also sent to wandb (one run, stage
    prefixes ssp/, base/, base_ssp/, pseudo/, selftrain/ and data/ for the realised pool)."""
    return run_stage(config, "pipeline", folder, None, "",
                     lambda folder, track: _run_stages(config, folder, shared, track))


def _run_stages(config: PipelineConfig, folder: Path, shared: Path | None, track: Tracker) -> StageResult:
    stages: dict[str, StageResult] = {}
    prefixes: dict[str, str] = {}  # stage name -> its prefix in the summary

    def step(key: str, prefix: str, run: Callable[..., StageResult], kind: str, cls: type, *sections: Any,
             folder_name: str | None = None, **extra: Any) -> StageResult:
        name = folder_name or key
        cfg = stage_config(cls, config, folder, name, *sections, **extra)
        if shared is not None:
            cfg = dataclasses.replace(cfg, out_dir=str(shared), name=f"{name}-{config_hash(cfg)[:8]}")
        prefixes[key] = prefix
        stages[key] = run_or_reuse(run, cfg, kind, track.stage(prefix))
        return stages[key]

    ssp = step("ssp", "ssp", run_ssp, "ssp", SSPConfig, config.ssp, folder_name=config.ssp.method.name)
    ce = step("ce", "base", run_finetune, "finetune", FinetuneConfig, config.finetune)
    step("ce_ssp", "base_ssp", run_finetune, "finetune", FinetuneConfig, config.finetune,
         init=str(ssp.paths["backbone"]))
    labeler, labeler_name = ce.paths["model"], "ce"
    for round_index in range(1, config.rounds + 1):
        suffix = "" if round_index == 1 else f"_round{round_index}"
        labels = step(f"from_{labeler_name}", f"pseudo{suffix}", run_pseudolabel, "pseudolabel", PseudolabelConfig,
                      config.pseudolabel, checkpoint=str(labeler))
        self_trained = step(f"ce_pseudo{suffix}", f"selftrain{suffix}", run_finetune, "finetune", FinetuneConfig,
                            config.selftrain or config.finetune, pseudo_labels=str(labels.paths["pseudo_labels"]))
        labeler, labeler_name = self_trained.paths["model"], f"ce_pseudo{suffix}"
    reports = {"ce": ce.metrics["test"], "ce+ssp": stages["ce_ssp"].metrics["test"],
               "ce+pseudo": self_trained.metrics["test"]}
    metrics = {"config_hash": config_hash(config), "test": reports, "train_counts": ce.metrics["labeled_counts"],
               "stages": {name: {"folder": str(r.folder), "reused": r.reused} for name, r in stages.items()}}
    figure = folder / "figures" / "per_class_vs_size.png"
    plots.per_class_bars(figure, metrics["train_counts"], {v: reports[v]["per_class_acc"] for v in VARIANTS},
                         "per-class test accuracy")
    manifest = read_json(self_trained.folder / "data_manifest.json")  # the pool's included
    write_json(folder / "data_manifest.json", manifest)  # what decides whether this run is reused
    track.add_config({"data_manifest": manifest})
    summary = prefixed("data", data_summary(manifest))
    for name, result in stages.items():
        summary.update(prefixed(prefixes[name], stage_summary(result.metrics)))
    track.summarize(summary)  # the figure is logged by run_stage
    write_json(folder / "summary.json", summary)
    write_json(folder / "metrics.json", metrics)
    return StageResult(folder, metrics, {"figure": figure, "summary": folder / "summary.json"})


def data_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The realised data of a run: labeled and pool counts per class, pool size, relevance, rho_U and
    the pool's fingerprint."""
    pool = manifest["pool"]
    return {"labeled_counts": manifest["labeled"]["class_counts"], "pool_counts": pool["class_counts"],
            "pool_size": pool["size"], "relevance": pool["relevance"], "rho_u": pool["rho_u"],
            "pool_fingerprint": pool["fingerprint"]}
