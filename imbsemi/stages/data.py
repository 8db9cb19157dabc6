"""The data a config builds, without training: its splits with the pool, and a saved pool file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from imbsemi.config import CommonConfig
from imbsemi.config_files import config_hash, to_dict
from imbsemi.io import atomic_write, write_json
from imbsemi.stages.build import Splits, make_splits
from imbsemi.stages.stage import StageResult


def build_data(config: CommonConfig) -> Splits:
    """The splits of a config of any stage, its pool included (split-file datasets have none)."""
    splits = make_splits(config)
    if splits.has_pool:
        _ = splits.pool
    return splits


def summary_table(manifest: dict, num_classes: int) -> list[str]:
    """Rows: one per class (test, validation, labeled, pool counts), a total, and the pool's relevance
    (when there is a pool)."""
    names = [n for n in ("test", "validation", "labeled", "pool") if n in manifest]
    rows = [f"{'class':<8}" + "".join(f"{name:>12}" for name in names)]
    for label in range(num_classes):
        rows.append(f"{label:<8}" + "".join(f"{manifest[n]['class_counts'][label]:>12}" for n in names))
    rows.append(f"{'total':<8}" + "".join(f"{sum(manifest[n]['class_counts']):>12}" for n in names))
    if "pool" not in manifest:
        return rows
    pool = manifest["pool"]
    rows.append(f"pool: {pool['size']} images, {pool['irrelevant']} irrelevant; realised relevance "
                f"{pool['relevance']:.3f}" + (f"; shortages: {pool['shortages']}" if pool["shortages"] else ""))
    return rows


def data_summary(config: CommonConfig) -> list[str]:
    """A header line (source, rho, n_max, rho_u, relevance, seed) and ``summary_table`` of ``config``'s data."""
    splits = build_data(config)
    return [splits.describe(), *summary_table(splits.manifest(), splits.num_classes)]


def save_pool(config: CommonConfig, out: Path) -> StageResult:
    """Write the pool of ``config`` to ``out`` (.npz: x, y (-1: irrelevant), sources, source_id, index)
    and its manifest to ``out`` with suffix .json. Result paths: ``pool``, ``manifest``."""
    splits = build_data(config)
    pool, out = splits.pool, Path(out)
    with atomic_write(out) as handle:
        np.savez(handle, x=pool.images, y=pool.targets, sources=np.array(pool.provenance.sources),
                 source_id=pool.provenance.source_id, index=pool.provenance.index)
    manifest = {"name": out.stem, "config_hash": config_hash(config), "data": to_dict(config)["data"],
                "seed": config.seed, **splits.manifest()}
    write_json(out.with_suffix(".json"), manifest)
    return StageResult(out.parent, manifest, {"pool": out, "manifest": out.with_suffix(".json")})


def write_training_shards(config: CommonConfig, workers: int = 4) -> StageResult:
    """Write the training split of a split-file dataset as litdata shards into ``data.shards`` (for
    ``data.loader: litdata``). Metrics: what the shards hold (split file, size, fingerprint)."""
    from imbsemi.data.litdata_shards import shard_record, write_shards  # litdata is needed for shards only

    splits = make_splits(config)
    folder = write_shards(splits.labeled, splits.shards, workers=workers)
    return StageResult(folder, shard_record(splits.labeled), {"shards": folder})
