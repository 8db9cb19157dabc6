"""`imbsemi pseudolabel`: predict the unlabeled pool with a trained classifier -> PseudoLabels file."""
from __future__ import annotations

from typing import Sequence

from imbsemi.cli.common import parse_config
from imbsemi.config import PseudolabelConfig
from imbsemi.stages import run_folder, run_pseudolabel


def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(PseudolabelConfig, "imbsemi pseudolabel",
                                "Pseudo-label the unlabeled pool with a trained classifier.", argv)
    result = run_pseudolabel(config, run_folder(config, "pseudolabel", stem))
    accuracy = result.metrics["reference_accuracy"]
    shown = "n/a" if accuracy is None else f"{accuracy:.3f}"
    print(f"pseudolabel: {result.metrics['pool_size']} pool images, accuracy vs reference labels {shown}; "
          f"-> {result.paths['pseudo_labels']}")
    return 0
