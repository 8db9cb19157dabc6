"""Offline self-training (the paper) beside joint training (FixMatch and its long-tail corrections) on
digits-LT under the LT-SSL pool shapes: consistent, uniform and reversed, over several seeds.

    python experiments/lt_ssl_digits.py [--seeds 0,1,2,3,4] [--shapes consistent,uniform,reversed]
                                        [--config lt_ssl_digits.yaml] [--out FILE.md] [key=value ...]

Each (shape, seed) runs the pipeline of ``--config`` (its variants: CE, CE + pseudo-labels, FixMatch and
FixMatch + each correction); stage runs are shared by config hash under ``<out_dir>/lt_ssl_shared``, so
CE, which never reads the pool, runs once per seed. Joint-training variants report the LT-SSL protocol
(the mean of the last evaluations of the EMA model); CE and self-training their exported model. Writes
the tables to ``--out`` and prints them; the last line is ``RESULT <shape>/<variant>=<balanced> ...``.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

from imbsemi.config import PipelineConfig
from imbsemi.config_files import load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.seed_tables import add_reports, gain_table, metric_table
from imbsemi.stages import run_folder, run_pipeline

GROUPS = ("balanced_acc", "acc", "many", "few")
SHAPES = {"consistent": [], "uniform": ["data.pool.rho_u=1"], "reversed": ["data.pool.order=reversed"]}
BASE = "fixmatch"  # paired gains are measured against it


def one_run(config: PipelineConfig, shape: str) -> dict[str, dict]:
    """Test reports of every variant for one shape and seed."""
    shared = str(Path(config.out_dir) / "lt_ssl_shared")
    config = dataclasses.replace(config, shared_stages=shared)
    return run_pipeline(config, run_folder(config, "pipeline", f"lt_ssl-{shape}-seed{config.seed}")).metrics["test"]


def shape_table(shape: str, results: dict[str, dict[str, list[float]]]) -> list[str]:
    """Markdown: accuracy per variant and group, then the paired gain of each variant over FixMatch."""
    return [f"### {shape}", "", *metric_table(results, GROUPS), "",
            *gain_table(results, BASE, ("balanced_acc", "few")), ""]


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="lt_ssl_digits.yaml")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated pool shapes")
    parser.add_argument("--out", default="experiments/results/lt_ssl_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds, shapes = [int(s) for s in args.seeds.split(",")], args.shapes.split(",")
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for shape in shapes:
        for seed in seeds:
            config = load_config(PipelineConfig, args.config, [*overrides, *SHAPES[shape], f"seed={seed}"])
            add_reports(results.setdefault(shape, {}), one_run(config, shape), GROUPS)
    shown = [o for o in overrides if not o.lstrip("-").startswith("out_dir=")]  # where runs go changes nothing
    lines = [f"digits-LT (rho = 10), LT-SSL pools from M1 = 60, {len(seeds)} seeds ({', '.join(map(str, seeds))}), "
             f"`{' '.join([args.config, *shown])}`: test accuracy (%), mean ± sd. Joint training: the mean of the "
             "last evaluations of the EMA model (the LT-SSL protocol); CE and self-training: the exported model "
             "(selected on the validation split).", ""]
    for shape in shapes:
        lines += shape_table(shape, results[shape])
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))
    print("RESULT " + " ".join(f"{shape}/{v}={statistics.mean(r['balanced_acc']):.3f}"
                               for shape in shapes for v, r in results[shape].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
