"""`imbsemi sweep FILE` (a wandb sweep file run locally) and `imbsemi sweep-report DIR | --wandb ID`."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from imbsemi.cli.common import show_progress
from imbsemi.sweeps.runner import plan_sweep, run_sweep, sweep_folder
from imbsemi.sweeps.report import local_records, wandb_records, write_report
from imbsemi.sweeps.spec import find_sweep, read_sweep


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="imbsemi sweep", allow_abbrev=False,
        description="Run the points of a wandb sweep file (grid or random) locally, as `wandb agent` would, with "
                    "the stages no swept value changes run once; finished points are skipped.")
    parser.add_argument("file", help="sweep YAML, a path or a shipped one (e.g. relevance_digits.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="check every point and list them; run nothing")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="points run at once, each in its own process")
    parser.add_argument("--count", type=int, help="points of a random sweep (default: the file's run_cap)")
    parser.add_argument("--seed", type=int, default=0, help="seed of a random sweep's draws")
    parser.add_argument("--out", type=Path, help="sweep folder (default: <out_dir>/sweeps/<file name>)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: must be at least 1")
    show_progress()
    sweep = read_sweep(find_sweep(args.file))
    if args.dry_run:
        planned = plan_sweep(sweep, args.out, args.count, args.seed)
        print(f"{len(planned)} points of {sweep.path} (imbsemi {sweep.subcommand} --config {sweep.config}) "
              f"in {sweep_folder(sweep, args.out)}:")
        for run in planned:
            print(f"  {'done' if run.done else 'todo'}  {run.point.label:<32} {' '.join(run.point.flags)}")
        return 0
    result = run_sweep(sweep, args.out, args.jobs, args.count, args.seed)
    print(f"sweep {sweep.name}: ran {len(result.ran)}, skipped {len(result.skipped)} finished; "
          f"report: imbsemi sweep-report {result.folder}")
    return 0


def report_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="imbsemi sweep-report", allow_abbrev=False,
        description="Mean ± sd over seeds of each variant's test accuracy per swept value: a markdown and a CSV "
                    "table and accuracy-vs-value plots.")
    parser.add_argument("folder", nargs="?", type=Path, help="a sweep folder made by `imbsemi sweep`")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT/SWEEP_ID", help="read the runs of a wandb sweep instead "
                                                                           "(online)")
    parser.add_argument("--out", type=Path, help="where the report goes (default: the sweep folder, or ./sweep_report)")
    args = parser.parse_args(argv)
    if (args.folder is None) == (args.wandb is None):
        parser.error("give a sweep folder or --wandb ENTITY/PROJECT/SWEEP_ID")
    if args.wandb:
        swept, records = wandb_records(args.wandb)
        title, out = f"wandb sweep {args.wandb}", args.out or Path("sweep_report")
    else:
        swept, records = local_records(args.folder)
        title, out = f"sweep {args.folder.resolve().name}", args.out or args.folder
    paths = write_report(out, title, swept, records)
    print(paths["markdown"].read_text(), end="")
    print("\n".join(f"{role}: {path}" for role, path in paths.items()))
    return 0
