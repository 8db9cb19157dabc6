"""`imbsemi pipeline` / `imbsemi demo`: the three stages end to end from one pipeline config (stages
already done for the same config are reused), and the comparison table."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from imbsemi import plots
from imbsemi.cli.common import parse_config, start_run
from imbsemi.cli.finetune import run_finetune
from imbsemi.cli.pseudolabel import run_pseudolabel
from imbsemi.cli.ssp_pretrain import run_ssp
from imbsemi.config import (CommonConfig, FinetuneConfig, PipelineConfig, PseudolabelConfig, SSPConfig,
                            config_hash)
from imbsemi.io import read_json, write_json
from imbsemi.tracking import run_dir

VARIANTS = ("ce", "ce+ssp", "ce+pseudo")


def stage_config(cls: type, pipeline: PipelineConfig, folder: Path, name: str, *sections: Any,
                 **extra: Any) -> Any:
    """A stage config: the pipeline's common keys, the given stage sections' keys, and ``extra``."""
    values = {f.name: getattr(pipeline, f.name) for f in dataclasses.fields(CommonConfig)}
    for section in sections:
        values.update({f.name: getattr(section, f.name) for f in dataclasses.fields(section)})
    values.update(out_dir=str(folder), name=name, **extra)
    return cls(**values)


def finished(stage_cfg: Any, stage: str) -> Path | None:
    """The run folder of ``stage_cfg`` if a run with the same config hash completed there (its
    metrics.json, written last, exists), else None."""
    digest = config_hash(stage_cfg)
    folder = run_dir(stage_cfg.out_dir, stage, stage_cfg.name, stage_cfg.name, digest)
    run, metrics = folder / "run.json", folder / "metrics.json"
    if run.is_file() and metrics.is_file() and read_json(run)["config_hash"] == digest:
        print(f"pipeline: {stage}/{stage_cfg.name} already done for config {digest}; reusing {folder}")
        return folder
    return None


def run_pipeline(config: PipelineConfig, folder: Path) -> dict[str, Any]:
    """SSP -> CE, CE + SSP -> pseudo-labels from CE -> CE on labeled + pseudo-labeled (re-labelled by
    the last self-trained model for ``rounds`` > 1), skipping stages already completed with the same
    config. Returns the test reports per variant, ce+pseudo being the last round's (also written to
    ``folder/metrics.json``)."""
    def ssp_stage(stage_cfg: SSPConfig) -> Path:
        done = finished(stage_cfg, "ssp")
        return done / "backbone.pt" if done else run_ssp(stage_cfg, start_run(stage_cfg, "ssp", stage_cfg.name))

    def finetune_stage(stage_cfg: FinetuneConfig) -> dict[str, Any]:
        done = finished(stage_cfg, "finetune")
        if done:
            return read_json(done / "metrics.json")
        return run_finetune(stage_cfg, start_run(stage_cfg, "finetune", stage_cfg.name))

    def pseudolabel_stage(stage_cfg: PseudolabelConfig) -> Path:
        done = finished(stage_cfg, "pseudolabel")
        if done:
            return done / "pseudo_labels.npz"
        return run_pseudolabel(stage_cfg, start_run(stage_cfg, "pseudolabel", stage_cfg.name))

    backbone = ssp_stage(stage_config(SSPConfig, config, folder, config.ssp.method.name, config.ssp))
    ce_metrics = finetune_stage(stage_config(FinetuneConfig, config, folder, "ce", config.finetune))
    reports = {"ce": ce_metrics["test"]}
    reports["ce+ssp"] = finetune_stage(stage_config(FinetuneConfig, config, folder, "ce_ssp", config.finetune,
                                                    init=str(backbone)))["test"]
    labeler, labeler_name = ce_metrics["model"], "ce"
    for round_index in range(1, config.rounds + 1):
        suffix = "" if round_index == 1 else f"_round{round_index}"
        pseudo = pseudolabel_stage(stage_config(PseudolabelConfig, config, folder, f"from_{labeler_name}",
                                                config.pseudolabel, checkpoint=labeler))
        self_trained = finetune_stage(stage_config(FinetuneConfig, config, folder, f"ce_pseudo{suffix}",
                                                   config.finetune, pseudo_labels=str(pseudo)))
        labeler, labeler_name = self_trained["model"], f"ce_pseudo{suffix}"
    reports["ce+pseudo"] = self_trained["test"]
    metrics = {"config_hash": config_hash(config), "test": reports,
               "train_counts": ce_metrics["labeled_counts"]}
    write_json(folder / "metrics.json", metrics)
    plots.per_class_bars(folder / "figures" / "per_class_vs_size.png", metrics["train_counts"],
                         {v: reports[v]["per_class_acc"] for v in VARIANTS}, "per-class test accuracy")
    return metrics


def format_table(metrics: dict[str, Any]) -> str:
    """Per-class and grouped test accuracy (%) per variant, one row per class or group."""
    reports, counts = metrics["test"], metrics["train_counts"]
    header = f"{'':<16}{'n_train':>8}" + "".join(f"{v:>11}" for v in VARIANTS)
    lines = [header, "-" * len(header)]
    for label, count in enumerate(counts):
        cells = "".join(f"{100 * reports[v]['per_class_acc'][label]:>11.1f}" for v in VARIANTS)
        lines.append(f"{'class ' + str(label):<16}{count:>8}{cells}")
    lines.append("-" * len(header))
    groups = reports["ce"]["shot_groups"]
    for key in ("many", "medium", "few", "acc", "balanced_acc"):
        size = f"{len(groups[key])} cl" if key in groups else ""
        cells = "".join(f"{100 * reports[v][key]:>11.1f}" for v in VARIANTS)
        lines.append(f"{key:<16}{size:>8}{cells}")
    return "\n".join(lines)


def result_line(metrics: dict[str, Any]) -> str:
    """The machine-readable last line of the demo."""
    values = " ".join(f"{v}={metrics['test'][v]['balanced_acc']:.3f}" for v in VARIANTS)
    return f"RESULT balanced_acc {values}"


def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(PipelineConfig, "imbsemi demo", "Run SSP, CE, CE + SSP and CE + pseudo-labels "
                                "and compare them on the held-out test set.", argv,
                                default_config="configs/quickstart.yaml")
    folder = start_run(config, "pipeline", stem)
    metrics = run_pipeline(config, folder)
    thresholds = metrics["test"]["ce"]["shot_thresholds"]
    print(f"\nHeld-out test set ({config.data.source}): accuracy (%); many > {thresholds[0]:.1f} and "
          f"few < {thresholds[1]:.1f} training images. Runs in {folder}")
    print(format_table(metrics))
    print(result_line(metrics))
    return 0
