"""Run the demo pipeline for several seeds; print balanced test accuracy (mean ± std) per variant.

    python experiments/seeds.py --seeds 0,1,2 [--config configs/quickstart.yaml] [key=value ...]

Prints one markdown table and a last line ``RESULT <variant>=<mean>±<std> ...``.
"""
from __future__ import annotations

import argparse
import sys

from imbsemi.config import PipelineConfig, load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.metrics import mean_std
from imbsemi.stages import run_folder, run_pipeline
from imbsemi.stages.pipeline import VARIANTS

GROUPS = ("balanced_acc", "many", "medium", "few")


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    args, overrides = parser.parse_known_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, dict[str, list[float]]] = {v: {g: [] for g in GROUPS} for v in VARIANTS}
    for seed in seeds:
        config = load_config(PipelineConfig, args.config, [*overrides, f"seed={seed}"])
        metrics = run_pipeline(config, run_folder(config, "pipeline", f"seeds-{seed}")).metrics
        for variant in VARIANTS:
            for group in GROUPS:
                results[variant][group].append(metrics["test"][variant][group])
    print(f"\n{len(seeds)} seeds ({args.config}), test accuracy (%):\n")
    print("| variant | " + " | ".join(GROUPS) + " |")
    print("|---" * (len(GROUPS) + 1) + "|")
    for variant in VARIANTS:
        print(f"| {variant} | " + " | ".join(mean_std(results[variant][g]) for g in GROUPS) + " |")
    print("RESULT " + " ".join(f"{v}={mean_std(results[v]['balanced_acc']).replace(' ', '')}" for v in VARIANTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
