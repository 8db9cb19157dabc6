"""Each SSL method on digits-LT, over several seeds: test kNN accuracy of the exported backbone against
a randomly initialised one (the monitor's k, temperature and layer, the labeled set as the bank), and
the balanced test accuracy of CE from scratch against CE initialised from that backbone.

    python experiments/compare_ssp.py [--seeds 0,1,2] [--methods rotation,moco_v2,simclr] [key=value ...]

Writes ``results/compare_ssp_digits.md`` (mean ± std) and prints it; the last line is
``RESULT ce=<mean> <method>=<mean> ...`` (balanced test accuracy).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from imbsemi.config import FinetuneConfig, SSPConfig, load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.metrics import mean_std
from imbsemi.stages import evaluate_knn, run_finetune, run_ssp


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default="rotation,moco_v2,simclr")
    parser.add_argument("--out", default="experiments/results/compare_ssp_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds, methods = [int(s) for s in args.seeds.split(",")], args.methods.split(",")
    knn: dict[str, list[float]] = {m: [] for m in methods}
    knn_random: dict[str, list[float]] = {m: [] for m in methods}
    knn_layer: dict[str, str] = {}
    balanced: dict[str, list[float]] = {m: [] for m in ["ce", *methods]}
    for seed in seeds:
        for method in ["ce", *methods]:
            init = []
            if method != "ce":
                ssp = load_config(SSPConfig, f"configs/ssp/{method}_digits.yaml",
                                  [*overrides, f"seed={seed}", f"name={method}-seed{seed}"])
                backbone = run_ssp(ssp).paths["backbone"]
                knn[method].append(evaluate_knn(ssp, backbone))
                knn_random[method].append(evaluate_knn(ssp, None))
                knn_layer[method] = ssp.knn.layer or "end"
                init = [f"init={backbone}"]
            config = load_config(FinetuneConfig, "configs/finetune/ce_digits.yaml",
                                 [*overrides, f"seed={seed}", f"name=ce-from-{method}-seed{seed}", *init])
            balanced[method].append(run_finetune(config).metrics["test"]["balanced_acc"])
    lines = [f"digits-LT (rho = 10), seeds {args.seeds}: test kNN accuracy of the exported backbone and of a "
             "randomly initialised one (the method's monitor settings; the labeled set is the bank), and balanced "
             "test accuracy of CE initialised from the backbone (%).", "",
             "| initialisation | kNN layer | kNN, random init | kNN, pre-trained | CE balanced accuracy |",
             "|---|---|---|---|---|", f"| random (CE from scratch) | - | - | - | {mean_std(balanced['ce'])} |"]
    lines += [f"| {m} | {knn_layer[m]} | {mean_std(knn_random[m])} | {mean_std(knn[m])} | {mean_std(balanced[m])} |"
              for m in methods]
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("RESULT " + " ".join(f"{m}={statistics.mean(v):.3f}" for m, v in balanced.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
