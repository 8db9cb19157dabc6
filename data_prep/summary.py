"""Print per-class counts of the splits a config of any stage builds (as `imbsemi data summary`).

    python data_prep/summary.py --config configs/finetune/ce_digits.yaml [key=value ...]
"""
from __future__ import annotations

import argparse
import sys

from imbsemi.errors import user_errors_to_exit
from imbsemi.stages.data import data_summary
from imbsemi.stages.table import load_stage_config


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a config of any stage (its data: section is read)")
    args, overrides = parser.parse_known_args(argv)
    print("\n".join(data_summary(load_stage_config(args.config, overrides))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
