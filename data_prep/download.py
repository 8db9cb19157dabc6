"""Download and verify (md5) CIFAR-10, CIFAR-100 and SVHN (train, test, extra) with torchvision.

    python data_prep/download.py cifar10 cifar100 svhn --root data      # download what is missing, then verify
    python data_prep/download.py svhn --root data --verify-only         # only check the md5 of present files
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchvision.datasets import CIFAR10, CIFAR100, SVHN
from torchvision.datasets.utils import check_integrity

from imbsemi.errors import DataError, user_errors_to_exit


def expected_files(name: str, root: Path) -> list[tuple[Path, str]]:
    """(path, md5) of every file of ``name`` under ``root``, as torchvision lists them."""
    if name == "svhn":
        return [(root / filename, md5) for _, filename, md5 in SVHN.split_list.values()]
    dataset = CIFAR10 if name == "cifar10" else CIFAR100
    folder = root / dataset.base_folder
    files = [*dataset.train_list, *dataset.test_list, [dataset.meta["filename"], dataset.meta["md5"]]]
    return [(folder / filename, md5) for filename, md5 in files]


def fetch(name: str, root: Path) -> None:
    """Download ``name`` into ``root`` unless its files are present and intact."""
    try:
        if name == "svhn":
            for split in SVHN.split_list:
                SVHN(str(root), split=split, download=True)
        else:
            (CIFAR10 if name == "cifar10" else CIFAR100)(str(root), download=True)
    except Exception as err:  # URLError when offline, RuntimeError on a bad archive
        raise DataError(f"cannot download {name} into {root}: {err}; put the files there by hand "
                        "(see data_prep/README.md) and run with --verify-only") from err


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", choices=["cifar10", "cifar100", "svhn"])
    parser.add_argument("--root", default="data", help="folder the files go to (data.root in configs)")
    parser.add_argument("--verify-only", action="store_true", help="check md5 sums, download nothing")
    args = parser.parse_args(argv)
    bad = 0
    for name in args.datasets:
        if not args.verify_only:
            fetch(name, Path(args.root))
        for path, md5 in expected_files(name, Path(args.root)):
            state = "ok" if check_integrity(str(path), md5) else "MISSING" if not path.exists() else "BAD MD5"
            bad += state != "ok"
            print(f"{name:<9} {state:<8} {path} (md5 {md5})")
    if bad:
        raise DataError(f"{bad} file(s) missing or corrupted under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
