"""`imbsemi data summary|shards --config FILE`: per-class counts of the splits a config of any stage
builds; or the litdata shards of a split-file training set (for ``data.loader: litdata``)."""
from __future__ import annotations

import argparse
from typing import Sequence

from imbsemi.stages.data import data_summary, write_training_shards
from imbsemi.stages.table import load_stage_config


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi data", description="Inspect or prepare the data a config builds.",
                                     allow_abbrev=False)
    parser.add_argument("action", choices=["summary", "shards"],
                        help="summary: per-class counts of every split; shards: write the training split of a "
                             "split-file dataset as litdata shards into data.shards")
    parser.add_argument("--config", required=True, help="a config of any stage (its data: section is read)")
    parser.add_argument("--workers", type=int, default=4, help="shards: processes reading the image files")
    args, overrides = parser.parse_known_args(argv)
    config = load_stage_config(args.config, overrides)
    if args.action == "summary":
        print("\n".join(data_summary(config)))
    else:
        result = write_training_shards(config, args.workers)
        print(f"shards of {result.metrics['listing']} ({result.metrics['size']} images) -> {result.folder}")
    return 0
