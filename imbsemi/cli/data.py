"""`imbsemi data summary --config FILE`: per-class counts of the splits a config builds."""
from __future__ import annotations

import argparse
from typing import Sequence

from imbsemi.cli.common import make_datamodule
from imbsemi.config import FinetuneConfig, load_config


def summary_table(manifest: dict, num_classes: int) -> list[str]:
    """Rows: one per class (test, validation, labeled, pool counts), a total, and the pool's relevance."""
    names = [n for n in ("test", "validation", "labeled", "pool") if n in manifest]
    rows = [f"{'class':<8}" + "".join(f"{name:>12}" for name in names)]
    for label in range(num_classes):
        rows.append(f"{label:<8}" + "".join(f"{manifest[n]['class_counts'][label]:>12}" for n in names))
    rows.append(f"{'total':<8}" + "".join(f"{sum(manifest[n]['class_counts']):>12}" for n in names))
    pool = manifest["pool"]
    rows.append(f"pool: {pool['size']} images, {pool['irrelevant']} irrelevant; realised relevance "
                f"{pool['relevance']:.3f}" + (f"; shortages: {pool['shortages']}" if pool["shortages"] else ""))
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi data", description="Inspect the data a config builds.",
                                     allow_abbrev=False)
    parser.add_argument("action", choices=["summary"], help="summary: per-class counts of every split")
    parser.add_argument("--config", required=True, help="any stage config with a data: section")
    args, overrides = parser.parse_known_args(argv)
    config = load_config(FinetuneConfig, args.config, overrides)
    datamodule = make_datamodule(config, batch_size=1)
    _ = datamodule.pool
    data = config.data
    print(f"{data.source}: rho={data.rho:g} n_max={datamodule.n_max:g} rho_u={data.pool.rho_u:g} "
          f"relevance={data.pool.relevance:g} seed={config.seed}")
    print("\n".join(summary_table(datamodule.manifest(), datamodule.num_classes)))
    return 0
