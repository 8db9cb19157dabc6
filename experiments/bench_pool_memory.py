"""Peak memory of building a CIFAR-10-LT-sized pool (rho = 100: 12,406 labeled -> 5x = 62,030 images)
from a memory-mapped 500,000 x 32 x 32 x 3 uint8 .npy (synthetic content), against the same build
after loading the whole array into memory (what unpickling the Tiny-Images file costs).

    python experiments/bench_pool_memory.py [--work-dir DIR] [--size 500000]

Each measurement runs in a fresh process with the file evicted from the page cache (a cold start,
as for a 1.5 GB file not read recently); peak RSS counts the mapped file pages read. The last line is
``RESULT pool_peak_rss_mb=X full_load_peak_rss_mb=Y ratio=X/Y``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def make_source(folder: Path, size: int) -> Path:
    """A (size, 32, 32, 3) uint8 .npy of random images and its labels (.targets.npy), 10 balanced classes."""
    images = folder / f"synthetic-{size}.npy"
    if not images.is_file():
        array = np.lib.format.open_memmap(images, mode="w+", dtype=np.uint8, shape=(size, 32, 32, 3))
        rng = np.random.default_rng(0)
        for start in range(0, size, 50_000):
            array[start:start + 50_000] = rng.integers(0, 256, (min(50_000, size - start), 32, 32, 3), np.uint8)
        array.flush()
        np.save(images.with_suffix(".targets.npy"), np.repeat(np.arange(10), size // 10))
    return images


def evict_from_page_cache(path: Path) -> None:
    """Drop the file's cached pages, so each measurement starts cold as a real run on a large file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(images_path: str, mode: str) -> None:
    """Build the pool in this process; print RSS after imports, then peak RSS and anonymous RSS, in MB."""
    from imbsemi.data.arrays import ImageArrays, Provenance
    from imbsemi.data.cache import open_images
    from imbsemi.data.longtail import seed_streams
    from imbsemi.data.pools import build_pool

    baseline = _status()["VmHWM"]
    images = open_images(Path(images_path)) if mode == "mmap" else np.load(images_path)
    targets = np.load(Path(images_path).with_suffix(".targets.npy"))
    source = ImageArrays(images, targets, tuple(str(c) for c in range(10)),
                         Provenance.single("synthetic", np.arange(len(targets))))
    pool, _ = build_pool(source, np.arange(len(targets)), 12_406, size_factor=5, rho_u=100, relevance=1.0,
                         head_to_tail=None, irrelevant=None, rngs=seed_streams(0))
    assert len(pool) == 62_025 and pool.images.shape[1:] == (32, 32, 3)
    status = _status()
    print(baseline, status["VmHWM"], status["RssAnon"])


def _status() -> dict[str, float]:
    """Memory lines of /proc/self/status, in MB (VmHWM is the peak resident set size)."""
    lines = (line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(value.split()[0]) / 1024 for key, value in lines if value.strip().endswith("kB")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", default=None, help="where the synthetic .npy goes (default: a temp dir)")
    parser.add_argument("--size", type=int, default=500_000)
    parser.add_argument("--measure", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return 0
    with tempfile.TemporaryDirectory(dir=args.work_dir) as folder:
        images = make_source(Path(folder), args.size)
        print(f"source: {images} ({images.stat().st_size / 2**20:.0f} MB); pool: 62,025 images (185 MB)")
        peaks = {}
        for mode in ("mmap", "full"):
            evict_from_page_cache(images)
            out = subprocess.run([sys.executable, __file__, "--measure", str(images), mode],
                                 capture_output=True, text=True, check=True)
            baseline, peaks[mode], anonymous = map(float, out.stdout.split())
            print(f"{mode:>5}: peak RSS {peaks[mode]:.0f} MB (after imports {baseline:.0f} MB; "
                  f"anonymous at the end {anonymous:.0f} MB)")
    print(f"RESULT pool_peak_rss_mb={peaks['mmap']:.0f} full_load_peak_rss_mb={peaks['full']:.0f} "
          f"ratio={peaks['mmap'] / peaks['full']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
