"""Print per-class counts of the splits a config builds (the same as `imbsemi data summary`).

    python data_prep/summary.py --config configs/finetune/ce_digits.yaml [key=value ...]
"""
from __future__ import annotations

import sys

from imbsemi.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["data", "summary", *sys.argv[1:]]))
