"""Convert the 500K Tiny-Images pickle (ti_80M_selected.pickle) once into memory-mapped .npy files.

    python data_prep/convert_tinyimages.py --root data

imbsemi does this itself on first use; run it ahead to pay the ~1.5 GB unpickling once, offline.
"""
from __future__ import annotations

import argparse
import sys

from imbsemi.data.cache import CACHE_FOLDER
from imbsemi.data.sources import load
from imbsemi.errors import user_errors_to_exit


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data", help="folder holding ti_80M_selected.pickle")
    args = parser.parse_args(argv)
    pool = load("tinyimages", "train", args.root)
    print(f"tinyimages: {len(pool)} images {pool.image_shape}, per class {pool.class_counts()}; "
          f"cached under {args.root}/{CACHE_FOLDER}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
