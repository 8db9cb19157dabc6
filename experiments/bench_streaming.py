"""Images/s of the split-file input paths (decode + 224-px training augmentation), per worker count and
per CPU core, against the same images held decoded in memory.

A miniature ImageNet-LT: ``--images`` JPEGs of 375 x 500 pixels (ImageNet's typical size), crops of
scikit-learn's two sample photographs (natural-image JPEG entropy), quality 90. In one run:
  (a) memory: the images decoded once and held as uint8 tensors, the same transform in a DataLoader
      (what the streaming paths cost on top of augmentation: reading and decoding);
  (b) files: ``data.loader: torch``, JPEG files read and decoded by torchvision in the workers;
  (c) litdata: ``data.loader: litdata``, the same files written once into shards and streamed.
Each with 0 (the main process), 1, 2, ... ``--workers`` processes. The transform is the ImageNet-LT
recipe (RandomResizedCrop 224, flip, colour jitter 0.4, normalise).

    python experiments/bench_streaming.py [--images N] [--workers W] [--out FILE]

Last line: RESULT files_vs_memory=X litdata_vs_files=Y (images/s ratios at the most workers).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from imbsemi.data.file_loader import decode, file_train_loader, training_transform
from imbsemi.data.files import FileRecipe, ImageFiles
from imbsemi.data.file_sources import IMAGENET_STATS
from imbsemi.data.litdata_shards import shard_loader, write_shards

BATCH = 32


def write_jpegs(root: Path, count: int) -> ImageFiles:
    """``count`` 375 x 500 JPEG crops of the sample photographs under ``root``, 10 labels."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos, rng, paths = load_sample_images().images, np.random.default_rng(0), []
    for i in range(count):
        photo = photos[i % 2]
        top, left = int(rng.integers(0, photo.shape[0] - 300)), int(rng.integers(0, photo.shape[1] - 400))
        crop = Image.fromarray(photo[top:top + 300, left:left + 400]).resize((500, 375), Image.BILINEAR)
        paths.append(f"train/{i % 10}/{i}.jpg")
        (root / paths[-1]).parent.mkdir(parents=True, exist_ok=True)
        crop.save(root / paths[-1], quality=90)
    return ImageFiles(root, np.array(paths), np.arange(count) % 10, tuple(map(str, range(10))), "bench",
                      np.arange(1, count + 1))


class Decoded(Dataset):
    """The images decoded once, served through ``transform``."""

    def __init__(self, images: list[torch.Tensor], transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), index % 10


def rate(batches: Iterable, passes: int = 2) -> float:
    """Images/s over ``passes`` full passes after one warm-up pass (workers started, caches filled)."""
    for _ in batches:
        pass
    start, served = time.perf_counter(), 0
    for _ in range(passes):
        for x, _ in batches:
            served += len(x)
    return served / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=384)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one core per process: the rates are per worker
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = write_jpegs(Path(tmp), args.images)
        shards = write_shards(files, Path(tmp) / "shards", workers=1)
        transform = training_transform(FileRecipe(), *IMAGENET_STATS, views=None)
        decoded = [decode(files, i) for i in range(len(files))]
        for workers in range(args.workers + 1):
            recipe = FileRecipe(workers=workers)
            sized = ImageFiles(files.root, files.paths, files.targets, files.classes, files.listing, files.lines,
                               recipe=recipe)
            memory = DataLoader(Decoded(decoded, transform), batch_size=BATCH, shuffle=True, num_workers=workers,
                                persistent_workers=workers > 0)
            paths = {"memory": memory,
                     "files": file_train_loader(sized, BATCH, *IMAGENET_STATS, seed=0),
                     "litdata": shard_loader(sized, shards, transform, BATCH, seed=0, drop_last=False, epoch=0)}
            for name, loader in paths.items():
                images_per_s = rate(loader)
                rows.append((name, workers, images_per_s, images_per_s / max(workers, 1)))
                print(f"{name:<8} workers={workers}: {images_per_s:7.1f} images/s "
                      f"({images_per_s / max(workers, 1):6.1f} per worker core)", flush=True)
    table = ["| path | workers | images/s | images/s per worker core |", "|---|---|---|---|"]
    table += [f"| {name} | {workers} | {speed:.1f} | {per_core:.1f} |" for name, workers, speed, per_core in rows]
    if args.out:
        args.out.write_text("\n".join(table) + "\n")
    best = {name: speed for name, workers, speed, _ in rows if workers == args.workers}
    print("\n".join(table))
    print(f"RESULT files_vs_memory={best['files'] / best['memory']:.2f} "
          f"litdata_vs_files={best['litdata'] / best['files']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
