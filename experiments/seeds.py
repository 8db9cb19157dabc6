"""Run the demo pipeline for several seeds: balanced / many / medium / few test accuracy (mean ± sd)
per variant, and the paired gain of each variant over CE (per seed: variant - CE).

    python experiments/seeds.py --seeds 0,1,2,3,4 [--config quickstart.yaml] [--out FILE.md] [key=value ...]

Writes the tables to ``--out`` (default experiments/results/demo_seeds_digits.md) and prints them;
the last line is ``RESULT <variant>=<mean>±<sd> ...`` (balanced accuracy, %).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from imbsemi.config import PipelineConfig, load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.metrics import mean_std
from imbsemi.stages import run_folder, run_pipeline
from imbsemi.stages.pipeline import VARIANTS

GROUPS = ("balanced_acc", "many", "medium", "few")


def tables(results: dict[str, dict[str, list[float]]], seeds: list[int], config: str) -> list[str]:
    """Markdown: accuracy per variant and group, then the paired gains over CE with their per-seed values."""
    lines = [f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), config `{config}`: test accuracy (%), mean ± sd.",
             "", "| variant | " + " | ".join(GROUPS) + " |", "|---" * (len(GROUPS) + 1) + "|"]
    lines += [f"| {v} | " + " | ".join(mean_std(results[v][g]) for g in GROUPS) + " |" for v in VARIANTS]
    lines += ["", "Paired gain over CE (same seed), balanced and few-shot accuracy (points):", "",
              "| variant | balanced gain | few-shot gain | seeds with a balanced gain | per-seed balanced gains |",
              "|---|---|---|---|---|"]
    for variant in VARIANTS[1:]:
        gain = {g: np.subtract(results[variant][g], results["ce"][g]) for g in ("balanced_acc", "few")}
        per_seed = ", ".join(f"{100 * d:+.1f}" for d in gain["balanced_acc"])
        lines.append(f"| {variant} | {mean_std(gain['balanced_acc'])} | {mean_std(gain['few'])} | "
                     f"{int((gain['balanced_acc'] > 0).sum())}/{len(seeds)} | {per_seed} |")
    return lines


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="quickstart.yaml")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    parser.add_argument("--out", default="experiments/results/demo_seeds_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, dict[str, list[float]]] = {v: {g: [] for g in GROUPS} for v in VARIANTS}
    for seed in seeds:
        config = load_config(PipelineConfig, args.config, [*overrides, f"seed={seed}"])
        metrics = run_pipeline(config, run_folder(config, "pipeline", f"seeds-{seed}")).metrics
        for variant in VARIANTS:
            for group in GROUPS:
                results[variant][group].append(metrics["test"][variant][group])
    shown = [o for o in overrides if not o.lstrip("-").startswith("out_dir=")]  # where runs go changes nothing
    lines = tables(results, seeds, " ".join([args.config, *shown]))
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("RESULT " + " ".join(f"{v}={mean_std(results[v]['balanced_acc']).replace(' ', '')}" for v in VARIANTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
