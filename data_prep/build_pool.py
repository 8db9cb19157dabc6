"""Build the unlabeled pool a config describes and save it as a named .npz (+ .json manifest).

    python data_prep/build_pool.py --config configs/finetune/ce_digits.yaml --out pools/digits_r06.npz \\
        data.pool.relevance=0.6

The .npz holds x (uint8 N, H, W, C), y (reference labels, -1 for irrelevant images), and the
provenance of each image: sources (names), source_id and index (its position in that source).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imbsemi.errors import user_errors_to_exit
from imbsemi.stages.data import save_pool, summary_table
from imbsemi.stages.table import load_stage_config


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a config of any stage (its data: section is read)")
    parser.add_argument("--out", required=True, help="output .npz path; its stem names the pool")
    args, overrides = parser.parse_known_args(argv)
    config = load_stage_config(args.config, overrides)
    result = save_pool(config, Path(args.out))
    print("\n".join(summary_table(result.metrics, len(result.metrics["labeled"]["class_counts"]))))
    print(f"pool {result.paths['pool'].stem!r}: {result.metrics['pool']['size']} images -> {result.paths['pool']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
