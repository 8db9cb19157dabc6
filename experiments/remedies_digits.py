"""Imbalance remedies on digits-LT over several seeds, judged by the metrics that do not reward the trivial
solution, and the class-difficulty diagnostic of every run.

    python experiments/remedies_digits.py [--seeds 0,1,2,3,4] [--config remedies_digits.yaml]
                                          [--out experiments/results/remedies_digits.md] [key=value ...]

Each seed runs the pipeline of ``--config`` (CE, CB-CE, focal, LDAM-DRW, Meta-Weight-Net, BBN, cRT and a
SelfPacedEnsemble on CE and on SSP features); stage runs are shared by config hash under
``<out_dir>/remedies_shared``. Then ``diagnose`` runs on every variant's last stage. Writes the tables
(balanced accuracy, macro-F1, G-mean, few-shot; paired gains over CE; per class: training images, mean
recall over variants and seeds, overlap) to ``--out``; the last line is ``RESULT <variant>=<balanced> ...``.
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
from imbsemi.seed_tables import add_reports, gain_table, metric_table
from imbsemi.stages import run_folder, run_pipeline
from imbsemi.stages.diagnose import Diagnosis, diagnose_run

GROUPS = ("balanced_acc", "macro_f1", "g_mean", "few")
BASE = "ce"


def one_seed(config: PipelineConfig) -> tuple[dict[str, dict], dict[str, Diagnosis]]:
    """(test report per variant, diagnosis per variant) of one seed."""
    config = dataclasses.replace(config, shared_stages=str(Path(config.out_dir) / "remedies_shared"))
    metrics = run_pipeline(config, run_folder(config, "pipeline", f"remedies-seed{config.seed}")).metrics
    diagnoses = {variant: diagnose_run(Path(metrics["stages"][chain[-1]]["folder"]))
                 for variant, chain in metrics["variants"].items()}
    return metrics["test"], diagnoses


def class_table(diagnoses: list[dict[str, Diagnosis]]) -> list[str]:
    """Per class (fewest training images first): training images, test recall of CE and mean over every
    variant and seed, overlap in CE's feature space, the mean rank correlations of recall with size and
    with overlap per variant."""
    counts = diagnoses[0][BASE].counts
    every = np.array([d.recall for seed in diagnoses for d in seed.values()])
    ce_recall = np.array([seed[BASE].recall for seed in diagnoses]).mean(0)
    overlap = np.array([seed[BASE].overlap for seed in diagnoses]).mean(0)
    lines = ["| class | training images | CE recall | recall, all variants | overlap (CE features) |",
             "|---|---|---|---|---|"]
    for label in np.argsort(counts, kind="stable"):
        lines.append(f"| {label} | {counts[label]} | {100 * ce_recall[label]:.1f} | "
                     f"{100 * every[:, label].mean():.1f} | {100 * overlap[label]:.1f} |")
    lines += ["", "Spearman correlation across classes of test recall with log training count and with overlap "
              "(mean ± sd over seeds):", "", "| variant | with log count | with overlap |", "|---|---|---|"]
    for variant in diagnoses[0]:
        size = [seed[variant].size_correlation for seed in diagnoses]
        over = [seed[variant].overlap_correlation for seed in diagnoses]
        lines.append(f"| {variant} | {_mean_sd(size)} | {_mean_sd(over)} |")
    return lines


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):+.2f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.2f}"


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="remedies_digits.yaml")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    parser.add_argument("--out", default="experiments/results/remedies_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, dict[str, list[float]]] = {}
    diagnoses = []
    for seed in seeds:
        reports, diagnosis = one_seed(load_config(PipelineConfig, args.config, [*overrides, f"seed={seed}"]))
        add_reports(results, reports, GROUPS)
        diagnoses.append(diagnosis)
    shown = [o for o in overrides if not o.lstrip("-").startswith("out_dir=")]  # where runs go changes nothing
    lines = [f"digits-LT (rho = 10), {len(seeds)} seeds ({', '.join(map(str, seeds))}), "
             f"`{' '.join([args.config, *shown])}`: test metrics (%), mean ± sd; every network run exports the "
             "epoch selected on the validation split (balanced accuracy).", "", *metric_table(results, GROUPS), "",
             *gain_table(results, BASE, GROUPS), "", "### Class difficulty (`imbsemi diagnose`)", "",
             *class_table(diagnoses), ""]
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))
    print("RESULT " + " ".join(f"{v}={statistics.mean(r['balanced_acc']):.3f}" for v, r in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
