"""`imbsemi data summary --config FILE`: per-class counts of the splits a config of any stage builds."""
from __future__ import annotations

import argparse
from typing import Sequence

from imbsemi.config_files import load_any_config
from imbsemi.stages.data import data_summary


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi data", description="Inspect the data a config builds.",
                                     allow_abbrev=False)
    parser.add_argument("action", choices=["summary"], help="summary: per-class counts of every split")
    parser.add_argument("--config", required=True, help="a config of any stage (its data: section is read)")
    args, overrides = parser.parse_known_args(argv)
    print("\n".join(data_summary(load_any_config(args.config, overrides))))
    return 0
