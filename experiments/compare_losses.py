"""CE against every registered loss and train rule on digits-LT, over several seeds.

    python experiments/compare_losses.py [--seeds 0,1,2] [--config configs/finetune/ce_digits.yaml]
        [--out experiments/results/compare_losses_digits.md] [key=value ...]

Writes a markdown table of test balanced accuracy and many / medium / few-shot accuracy (mean ± std)
and prints it; the last line is ``RESULT best=<variant> balanced_acc=<mean>``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from imbsemi.config import FinetuneConfig
from imbsemi.config_files import load_config
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.metrics import mean_std
from imbsemi.stages import run_finetune

# (name, overrides); "{ce}" is replaced by the same seed's CE model (decoupled variants start from it)
VARIANTS = [
    ("CE", []),
    ("CE + reweight (CB)", ["rule.name=reweight"]),
    ("CE + resample (exact CB)", ["rule.name=resample"]),
    ("CE + resample (original sampler)", ["rule.name=resample_effective"]),
    ("CE + DRW", ["rule.name=drw"]),
    ("Focal (gamma 1)", ["loss.name=focal"]),
    ("LDAM + DRW", ["loss.name=ldam", "rule.name=drw"]),
    ("Balanced Softmax", ["loss.name=balanced_softmax"]),
    ("Logit adjustment loss (tau 2)", ["loss.name=logit_adjusted", "loss.kwargs={tau: 2.0}"]),
    ("CE + post-hoc logit adjustment (tau 1)", ["posthoc_tau=1.0"]),
    ("cRT (from CE)", ["mode=crt", "init={ce}", "epochs=20"]),
    ("tau-norm (from CE, tau on validation)", ["mode=tau_norm", "init={ce}", "tau=null"]),
]
COLUMNS = ("balanced_acc", "many", "medium", "few")
NOTES = """Notes: the model of each run is the epoch with the best validation balanced accuracy. DRW
switches the class weights on at the first learning-rate decay (80% of the epochs, as the original),
so with the short digits schedule only a few steps at lr x0.01 follow, and the selected model can
equal CE's. cRT and tau-norm start from the same seed's CE model."""


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--config", default="configs/finetune/ce_digits.yaml")
    parser.add_argument("--out", default="experiments/results/compare_losses_digits.md")
    args, overrides = parser.parse_known_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {name: {c: [] for c in COLUMNS} for name, _ in VARIANTS}
    for seed in seeds:
        ce_model = ""
        for index, (name, extra) in enumerate(VARIANTS):
            variant = [o.replace("{ce}", ce_model) for o in extra]
            config = load_config(FinetuneConfig, args.config, [*overrides, f"seed={seed}", *variant,
                                                               f"name=compare-{index}-seed{seed}"])
            metrics = run_finetune(config).metrics
            ce_model = ce_model or metrics["model"]
            for column in COLUMNS:
                results[name][column].append(metrics["test"][column])
    lines = [f"Test accuracy (%) on digits-LT (rho = 10), mean ± std over seeds {args.seeds}; "
             f"config `{args.config}` {' '.join(overrides)}".rstrip(), "",
             "| variant | balanced | many | medium | few |", "|---|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(mean_std(results[name][c]) for c in COLUMNS) + " |" for name, _ in VARIANTS]
    lines += ["", NOTES]
    out = Path(args.out)
    with atomic_write(out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    best = max(results, key=lambda name: statistics.mean(results[name]["balanced_acc"]))
    print(f"RESULT best={best.replace(' ', '_')} balanced_acc={statistics.mean(results[best]['balanced_acc']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
