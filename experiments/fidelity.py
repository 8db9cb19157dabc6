"""The method's variants on digits-LT over several seeds: CE, CE + SSP, CE + pseudo-labels, SSP +
pseudo-labels, LDAM-DRW and LDAM-DRW + pseudo-labels, with balanced / many / medium / few test
accuracy (mean ± sd) and the paired gain of each variant over its base (same seed).

    python experiments/fidelity.py [--seeds 0,1,2,3,4] [--config quickstart.yaml] [--out FILE.md] [key=value ...]

Each seed runs the pipeline (SSP, CE, CE + SSP, pseudo-labels from CE, CE + pseudo-labels), then
SSP + pseudo-labels (pseudo-labels from CE + SSP, self-training initialised from the SSP backbone),
LDAM-DRW, and LDAM-DRW self-trained on its own pseudo-labels. Stages already finished with the same
config are reused. Writes the tables to ``--out`` and prints them; the last line is
``RESULT <variant>=<mean balanced accuracy> ...``.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import numpy as np

from imbsemi.config import PipelineConfig
from imbsemi.config_files import load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.metrics import mean_std
from imbsemi.stages import STAGES, StageResult, run_folder, run_pipeline, run_stage
from imbsemi.stages.pipeline import Step, section_values, step_config

GROUPS = ("balanced_acc", "many", "medium", "few")
# variant -> the variant its paired gain is measured against
BASES = {"ce": None, "ce+ssp": "ce", "ce+pseudo": "ce", "ssp+pseudo": "ce", "ldam_drw": "ce",
         "ldam_drw+pseudo": "ldam_drw"}


# the LDAM-DRW variants, declared as the pipeline's: a section and two chains
LDAM_SECTIONS = {"ldam_drw": {"stage": "finetune", "base": "finetune", "loss": {"name": "ldam"},
                              "rule": {"name": "drw"}}}
LDAM_VARIANTS = {"ldam_drw": ["ldam_drw"], "ldam_drw+pseudo": ["ldam_drw", "pseudolabel", "ldam_drw"]}


def extra_step(config: PipelineConfig, folder: Path, key: str, section: str, **inputs: str) -> StageResult:
    """Run ``section`` of ``config`` with these input files as a stage of the pipeline in ``folder``."""
    stage, values = section_values(config, section, STAGES)
    return run_stage(stage, step_config(config, Step(key, stage, section, values, None, None), folder, inputs),
                     recompute=True)


def one_seed(config: PipelineConfig) -> dict[str, dict]:
    """Test reports of every variant for one seed."""
    config = dataclasses.replace(config, sections={**config.sections, **LDAM_SECTIONS},
                                 variants={**config.variants, **LDAM_VARIANTS})
    pipeline = run_pipeline(config, run_folder(config, "pipeline", f"fidelity-seed{config.seed}"))
    folder, stages = pipeline.folder, pipeline.metrics["stages"]
    reports = dict(pipeline.metrics["test"])
    # SSP + pseudo-labels: labels from CE + SSP, self-training initialised from the SSP backbone
    backbone = str(Path(stages["ce+ssp.ssp"]["folder"]) / "backbone.pt")
    labels = extra_step(config, folder, "ssp+pseudo.pseudolabel", "pseudolabel",
                        checkpoint=str(Path(stages["ce+ssp"]["folder"]) / "model.pt"))
    reports["ssp+pseudo"] = extra_step(config, folder, "ssp+pseudo", "finetune", init=backbone,
                                       pseudo_labels=str(labels.paths["pseudo_labels"])).metrics["test"]
    return reports


def tables(results: dict[str, dict[str, list[float]]], seeds: list[int], label: str) -> list[str]:
    """Markdown: accuracy per variant and group, then paired gains over each variant's base."""
    lines = [f"digits-LT, {len(seeds)} seeds ({', '.join(map(str, seeds))}), `{label}`: test accuracy (%), "
             "mean ± sd; the exported model of each run is selected on the validation split.", "",
             "| variant | " + " | ".join(GROUPS) + " |", "|---" * (len(GROUPS) + 1) + "|"]
    lines += [f"| {v} | " + " | ".join(mean_std(results[v][g]) for g in GROUPS) + " |" for v in BASES]
    lines += ["", "Paired gain (same seed, points): variant - base.", "",
              "| variant | base | balanced gain | few-shot gain | seeds with a balanced gain | per-seed balanced |",
              "|---|---|---|---|---|---|"]
    for variant, base in BASES.items():
        if base is None:
            continue
        gain = {g: np.subtract(results[variant][g], results[base][g]) for g in ("balanced_acc", "few")}
        lines.append(f"| {variant} | {base} | {mean_std(gain['balanced_acc'])} | {mean_std(gain['few'])} | "
                     f"{int((gain['balanced_acc'] > 0).sum())}/{len(seeds)} | "
                     + ", ".join(f"{100 * d:+.1f}" for d in gain["balanced_acc"]) + " |")
    return lines


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quickstart.yaml")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    parser.add_argument("--out", default="experiments/results/fidelity_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, dict[str, list[float]]] = {v: {g: [] for g in GROUPS} for v in BASES}
    for seed in seeds:
        reports = one_seed(load_config(PipelineConfig, args.config, [*overrides, f"seed={seed}"]))
        for variant in BASES:
            for group in GROUPS:
                results[variant][group].append(reports[variant][group])
    shown = [o for o in overrides if not o.lstrip("-").startswith("out_dir=")]  # where runs go changes nothing
    lines = tables(results, seeds, " ".join([args.config, *shown]))
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("RESULT " + " ".join(f"{v}={statistics.mean(results[v]['balanced_acc']):.3f}" for v in BASES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
