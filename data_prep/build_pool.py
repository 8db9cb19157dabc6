"""Build the unlabeled pool a config describes and save it as a named .npz (+ .json manifest).

    python data_prep/build_pool.py --config configs/finetune/ce_digits.yaml --out pools/digits_r06.npz \\
        data.pool.relevance=0.6

The .npz holds x (uint8 N, H, W, C), y (reference labels, -1 for irrelevant images), and the
provenance of each image: sources (names), source_id and index (its position in that source).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from imbsemi.cli.common import make_datamodule, user_errors_to_exit
from imbsemi.cli.data import summary_table
from imbsemi.config import FinetuneConfig, config_hash, load_config, to_dict
from imbsemi.io import atomic_write, write_json


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="any stage config with a data: section")
    parser.add_argument("--out", required=True, help="output .npz path; its stem names the pool")
    args, overrides = parser.parse_known_args(argv)
    config = load_config(FinetuneConfig, args.config, overrides)
    datamodule = make_datamodule(config, batch_size=1)
    pool, out = datamodule.pool, Path(args.out)
    with atomic_write(out) as handle:
        np.savez(handle, x=pool.images, y=pool.targets, sources=np.array(pool.provenance.sources),
                 source_id=pool.provenance.source_id, index=pool.provenance.index)
    manifest = datamodule.manifest()
    write_json(out.with_suffix(".json"), {"name": out.stem, "config_hash": config_hash(config),
                                          "data": to_dict(config)["data"], "seed": config.seed, **manifest})
    print("\n".join(summary_table(manifest, datamodule.num_classes)))
    print(f"pool {out.stem!r}: {len(pool)} images -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
