"""Each SSL method on digits-LT, over several seeds: test kNN accuracy of the exported backbone against
a randomly initialised one (the monitor's k, temperature and layer, the labeled set as the bank), and
the balanced test accuracy of CE from scratch against CE initialised from that backbone.

    python experiments/compare_ssp.py [--seeds 0,1,2,3,4] [--methods rotation,moco_v2,simclr] [key=value ...]

Writes ``results/compare_ssp_digits.md`` (mean ± std) and prints it; the last line is
``RESULT ce=<mean> <method>=<mean> ...`` (balanced test accuracy).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from imbsemi.config import FinetuneConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.metrics import mean_std
from imbsemi.stages import evaluate_knn, run_finetune, run_ssp


def table(seeds: str, methods: list[str], knn: dict, knn_random: dict, knn_layer: dict,
          scores: dict[str, dict[str, list[float]]]) -> list[str]:
    """Markdown: kNN accuracy (random vs pre-trained), CE balanced and few-shot accuracy from each
    initialisation, and the paired gains over CE from scratch (same seed)."""
    def gain(method: str, group: str) -> str:
        return mean_std(np.subtract(scores[method][group], scores["ce"][group]))

    lines = [f"digits-LT (rho = 10), seeds {seeds}: test kNN accuracy of the exported backbone and of a randomly "
             "initialised one (the method's monitor settings; the labeled set is the bank), and balanced / few-shot "
             "test accuracy of CE initialised from the backbone, with the paired gain over CE from scratch (%).", "",
             "| initialisation | kNN layer | kNN, random init | kNN, pre-trained | CE balanced | CE few-shot | "
             "balanced gain | few-shot gain | seeds with a balanced gain |", "|---|---|---|---|---|---|---|---|---|",
             f"| random (CE from scratch) | - | - | - | {mean_std(scores['ce']['balanced_acc'])} | "
             f"{mean_std(scores['ce']['few'])} | - | - | - |"]
    for m in methods:
        wins = int((np.subtract(scores[m]["balanced_acc"], scores["ce"]["balanced_acc"]) > 0).sum())
        lines.append(f"| {m} | {knn_layer[m]} | {mean_std(knn_random[m])} | {mean_std(knn[m])} | "
                     f"{mean_std(scores[m]['balanced_acc'])} | {mean_std(scores[m]['few'])} | "
                     f"{gain(m, 'balanced_acc')} | {gain(m, 'few')} | {wins}/{len(scores['ce']['few'])} |")
    return lines


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--methods", default="rotation,moco_v2,simclr")
    parser.add_argument("--out", default="experiments/results/compare_ssp_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds, methods = [int(s) for s in args.seeds.split(",")], args.methods.split(",")
    knn: dict[str, list[float]] = {m: [] for m in methods}
    knn_random: dict[str, list[float]] = {m: [] for m in methods}
    knn_layer: dict[str, str] = {}
    scores: dict[str, dict[str, list[float]]] = {m: {"balanced_acc": [], "few": []} for m in ["ce", *methods]}
    for seed in seeds:
        for method in ["ce", *methods]:
            init = []
            if method != "ce":
                ssp = load_config(SSPConfig, f"ssp/{method}_digits.yaml",
                                  [*overrides, f"seed={seed}", f"name={method}-seed{seed}"])
                backbone = run_ssp(ssp).paths["backbone"]
                knn[method].append(evaluate_knn(ssp, backbone))
                knn_random[method].append(evaluate_knn(ssp, None))
                knn_layer[method] = ssp.knn.layer or "end"
                init = [f"init={backbone}"]
            config = load_config(FinetuneConfig, "finetune/ce_digits.yaml",
                                 [*overrides, f"seed={seed}", f"name=ce-from-{method}-seed{seed}", *init])
            report = run_finetune(config).metrics["test"]
            for group in ("balanced_acc", "few"):
                scores[method][group].append(report[group])
    lines = table(args.seeds, methods, knn, knn_random, knn_layer, scores)
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("RESULT " + " ".join(f"{m}={statistics.mean(v['balanced_acc']):.3f}" for m, v in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
