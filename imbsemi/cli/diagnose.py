"""`imbsemi diagnose RUN... [--k K]`: per class, training count, test recall and overlap in the run's feature
space, a table and a scatter plot, to tell classes weak by size from classes weak by overlap."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from imbsemi.stages.diagnose import DEFAULT_K, diagnosable_runs, diagnose_run, diagnosis_table


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi diagnose", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path,
                        help="finished run folders: finetune, semi, ssp or evaluate runs, or a pipeline run (each "
                             "variant's last stage)")
    parser.add_argument("--k", type=int, default=DEFAULT_K,
                        help=f"neighbours of the overlap score (default {DEFAULT_K})")
    args = parser.parse_args(argv)
    for folder in (run for given in args.runs for run in diagnosable_runs(given)):
        diagnosis = diagnose_run(folder, args.k)
        print(f"## {folder}\n")
        print(diagnosis_table(diagnosis.counts, diagnosis.recall, diagnosis.overlap, diagnosis.size_correlation,
                              diagnosis.overlap_correlation, args.k))
        print(f"written: {', '.join(str(path) for path in diagnosis.files.values())}\n")
    return 0
