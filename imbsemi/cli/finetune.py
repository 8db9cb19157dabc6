"""`finetune`: stages 2 and 3, a classifier on the labeled set (optionally from an SSP backbone),
or on labeled + pseudo-labeled images (self-training); also cRT and tau-normalisation."""
from __future__ import annotations

from typing import Sequence

from imbsemi.cli.common import parse_config, report
from imbsemi.config import FinetuneConfig
from imbsemi.errors import user_errors_to_exit
from imbsemi.stages import run_finetune, run_folder


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(FinetuneConfig, "finetune", "Train a classifier (stage 2) or self-train "
                                "on labeled + pseudo-labeled data (stage 3).", argv)
    result = run_finetune(config, run_folder(config, "finetune", stem))
    test = result.metrics["test"]
    report(f"finetune: test acc={test['acc']:.3f} balanced_acc={test['balanced_acc']:.3f}; "
           f"model -> {result.paths['model']}")
    return 0


if __name__ == "__main__":  # torchrun -m imbsemi.cli.finetune ...
    raise SystemExit(main())
