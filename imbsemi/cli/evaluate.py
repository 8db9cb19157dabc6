"""`imbsemi evaluate --config FILE checkpoint=PATH`: test a classifier checkpoint (any layout) on a data
config's test split, without training."""
from __future__ import annotations

from typing import Sequence

from imbsemi.cli.common import parse_config
from imbsemi.config import EvaluateConfig
from imbsemi.stages import run_evaluate, run_folder


def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(EvaluateConfig, "imbsemi evaluate",
                                "Test a classifier checkpoint (model.pt, pretrained:NAME or a released file) on the "
                                "test split of the config's data: balanced, many/medium/few and per-class accuracy.",
                                argv)
    result = run_evaluate(config, run_folder(config, "evaluate", stem))
    test = result.metrics["test"]
    print(f"{result.metrics['arch']} ({result.metrics['layout']} layout) on {config.data.source} test: "
          + " ".join(f"{key}={100 * test[key]:.2f}" for key in ("acc", "balanced_acc", "many", "medium", "few")))
    print(f"per-class: {' '.join(f'{100 * a:.1f}' for a in test['per_class_acc'])}; written to {result.folder}")
    return 0
