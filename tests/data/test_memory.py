"""Building a long-tailed set and a pool copies the source images at most once."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from imbsemi.config import PoolConfig
from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.cache import open_images
from imbsemi.data.longtail import seed_streams
from imbsemi.data.pools import build_pool


def test_pool_from_memory_map_allocates_one_copy_of_the_pool(tmp_path: Path) -> None:
    source = np.lib.format.open_memmap(tmp_path / "images.npy", mode="w+", dtype=np.uint8, shape=(20_000, 16, 16, 3))
    source[:] = 7
    source.flush()
    del source
    images = open_images(tmp_path / "images.npy")
    relevant = ImageArrays(images, np.tile(np.arange(10), 2_000), tuple("abcdefghij"),
                           Provenance.single("mm", np.arange(20_000)))
    tracemalloc.start()
    pool, _ = build_pool(relevant, np.arange(20_000), 2_000, PoolConfig(), None, None, seed_streams(0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pool_bytes = pool.images.nbytes  # 10,000 x 768 B = 7.7 MB; the source is 15.4 MB
    assert len(pool) == 10_000 and pool.images.sum() == 7 * pool_bytes
    assert peak < 1.1 * pool_bytes + 1_000_000  # one copy of the pool images + index arrays
