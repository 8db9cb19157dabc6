"""Print per-class counts of the splits a config builds: test, validation, labeled, pool.

    python data_prep/summary.py --config configs/finetune/ce_digits.yaml [key=value ...]
"""
from __future__ import annotations

import argparse
import sys

from imbsemi.cli.common import make_datamodule, user_errors_to_exit
from imbsemi.config import FinetuneConfig, load_config


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="any stage config with a data: section")
    args, overrides = parser.parse_known_args(argv)
    config = load_config(FinetuneConfig, args.config, overrides)
    datamodule = make_datamodule(config, batch_size=1)
    manifest = datamodule.manifest()
    pool = datamodule.pool
    splits = {name: manifest[name]["class_counts"] for name in ("test", "validation", "labeled")}
    splits["pool"] = pool.class_counts()
    print(f"{config.data.source}: rho={config.data.rho:g} rho_u={config.data.pool.rho_u:g} seed={config.seed}")
    print(f"{'class':<8}" + "".join(f"{name:>12}" for name in splits))
    for label in range(datamodule.num_classes):
        print(f"{label:<8}" + "".join(f"{counts[label]:>12}" for counts in splits.values()))
    print(f"{'total':<8}" + "".join(f"{sum(counts):>12}" for counts in splits.values()))
    irrelevant = int((pool.targets < 0).sum())
    print(f"pool: {len(pool)} images, {irrelevant} irrelevant; realised relevance "
          f"{(len(pool) - irrelevant) / max(len(pool), 1):.3f} (target {config.data.pool.relevance:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
