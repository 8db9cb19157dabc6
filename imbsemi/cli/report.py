"""`imbsemi report RUN_DIR...`: a markdown table comparing the test metrics of finished runs (on one sweep
folder: the sweep report)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from imbsemi.errors import DataError
from imbsemi.io import read_json
from imbsemi.metrics import SUMMARY_METRICS as COLUMNS



def run_reports(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(row name, test report) of a finetune run (one row) or a pipeline run (one row per variant)."""
    path = folder / "metrics.json"
    if not path.is_file():
        raise DataError(f"{folder} has no metrics.json; expected the folder of a finished finetune or pipeline run")
    test = read_json(path).get("test")
    if isinstance(test, dict) and "balanced_acc" in test:
        return [(folder.name, test)]
    if isinstance(test, dict) and test and all(isinstance(r, dict) and "balanced_acc" in r for r in test.values()):
        return [(f"{folder.name}/{variant}", report) for variant, report in test.items()]
    raise DataError(f"{path}: no test metrics (a 'test' report or reports per variant); was it an SSP run?")


def markdown_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """| run | acc | balanced_acc | macro_f1 | g_mean | many | medium | few | in percent."""
    def cell(value: Any) -> str:
        return "-" if value is None or value != value else f"{100 * value:.1f}"
    lines = ["| run | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(report.get(c)) for c in COLUMNS) + " |" for name, report in rows]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi report", description="Compare the test metrics of runs.")
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (runs/finetune/<name>, runs/pipeline/<name>)")
    args = parser.parse_args(argv)
    if len(args.runs) == 1 and (args.runs[0] / "sweep.yaml").is_file():
        from imbsemi.cli.sweep import report_main

        return report_main([str(args.runs[0])])
    print(markdown_table([row for folder in args.runs for row in run_reports(folder)]))
    return 0
