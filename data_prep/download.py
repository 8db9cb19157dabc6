"""Download and verify (md5) CIFAR-10, CIFAR-100 and SVHN (train, test, extra) with torchvision.

    python data_prep/download.py cifar10 cifar100 svhn --root data      # download what is missing, then verify
    python data_prep/download.py svhn --root data --verify-only         # only check the md5 of present files

A CIFAR folder written by a conversion (data_prep/convert_cifar10_jpeg.py: its imbsemi_source.json) is
checked against the sha256 sums that conversion recorded, as data.verify does, and never downloaded over.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchvision.datasets import CIFAR10, CIFAR100, SVHN
from torchvision.datasets.utils import check_integrity

from imbsemi.data.cifar import SOURCE_MANIFEST, conversion_manifest
from imbsemi.errors import DataError, user_errors_to_exit
from imbsemi.io import sha256_file


def expected_files(name: str, root: Path) -> list[tuple[Path, str]]:
    """(path, md5) of every file of ``name`` under ``root``, as torchvision lists them."""
    if name == "svhn":
        return [(root / filename, md5) for _, filename, md5 in SVHN.split_list.values()]
    dataset = CIFAR10 if name == "cifar10" else CIFAR100
    folder = root / dataset.base_folder
    files = [*dataset.train_list, *dataset.test_list, [dataset.meta["filename"], dataset.meta["md5"]]]
    return [(folder / filename, md5) for filename, md5 in files]


def conversion(name: str, root: Path) -> dict | None:
    """The conversion manifest of ``name``'s folder under ``root`` (None: official files, or SVHN)."""
    return None if name == "svhn" else conversion_manifest(expected_files(name, root)[0][0].parent)


def check(path: Path, md5: str, converted: dict | None) -> tuple[str, str]:
    """(state: ok, MISSING, BAD MD5 or BAD SHA256; the checksum checked) of one file: torchvision's md5,
    or the sha256 a conversion recorded for it."""
    if converted is None:
        state = "ok" if check_integrity(str(path), md5) else "MISSING" if not path.exists() else "BAD MD5"
        return state, f"md5 {md5}"
    expected = converted["files"].get(path.name)
    state = ("MISSING" if not path.exists() else
             "ok" if expected is not None and sha256_file(path) == expected else "BAD SHA256")
    return state, f"sha256 {expected} of {converted['name']}, {SOURCE_MANIFEST}"


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
    parser.add_argument("--verify-only", action="store_true", help="check the checksums, download nothing")
    args = parser.parse_args(argv)
    bad = 0
    for name in args.datasets:
        converted = conversion(name, Path(args.root))
        if not args.verify_only and converted is None:
            fetch(name, Path(args.root))
        for path, md5 in expected_files(name, Path(args.root)):
            state, checksum = check(path, md5, converted)
            bad += state != "ok"
            print(f"{name:<9} {state:<10} {path} ({checksum})")
    if bad:
        raise DataError(f"{bad} file(s) missing or corrupted under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
