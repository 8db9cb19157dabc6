"""`imbsemi pipeline --config FILE` and `imbsemi demo` (the pipeline on the shipped quickstart config):
every stage from one config, then the comparison table of the variants."""
from __future__ import annotations

from typing import Any, Sequence

from imbsemi.cli.common import parse_config
from imbsemi.config import PipelineConfig
from imbsemi.stages import run_folder, run_pipeline
from imbsemi.stages.pipeline import VARIANTS

DESCRIPTION = "Run SSP, CE, CE + SSP and CE + pseudo-labels and compare them on the held-out test set."


def format_table(metrics: dict[str, Any]) -> str:
    """Per-class and grouped test accuracy (%) per variant, one row per class or group."""
    reports, counts = metrics["test"], metrics["train_counts"]
    header = f"{'':<16}{'n_train':>8}" + "".join(f"{v:>11}" for v in VARIANTS)
    lines = [header, "-" * len(header)]
    for label, count in enumerate(counts):
        cells = "".join(f"{100 * reports[v]['per_class_acc'][label]:>11.1f}" for v in VARIANTS)
        lines.append(f"{'class ' + str(label):<16}{count:>8}{cells}")
    lines.append("-" * len(header))
    groups = reports["ce"]["shot_groups"]
    for key in ("many", "medium", "few", "acc", "balanced_acc"):
        size = f"{len(groups[key])} cl" if key in groups else ""
        cells = "".join(f"{100 * reports[v][key]:>11.1f}" for v in VARIANTS)
        lines.append(f"{key:<16}{size:>8}{cells}")
    return "\n".join(lines)


def result_line(metrics: dict[str, Any]) -> str:
    """The machine-readable last line of the demo."""
    values = " ".join(f"{v}={metrics['test'][v]['balanced_acc']:.3f}" for v in VARIANTS)
    return f"RESULT balanced_acc {values}"


def run(prog: str, argv: Sequence[str] | None, default_config: str | None) -> int:
    """Parse, run the pipeline, print the table and the RESULT line."""
    config, stem = parse_config(PipelineConfig, prog, DESCRIPTION, argv, default_config=default_config)
    result = run_pipeline(config, run_folder(config, "pipeline", stem))
    thresholds = result.metrics["test"]["ce"]["shot_thresholds"]
    print(f"\nHeld-out test set ({config.data.source}): accuracy (%); many > {thresholds[0]:.1f} and "
          f"few < {thresholds[1]:.1f} training images. Runs in {result.folder}")
    print(format_table(result.metrics))
    print(result_line(result.metrics))
    return 0


def pipeline_main(argv: Sequence[str] | None = None) -> int:
    return run("imbsemi pipeline", argv, None)


def demo_main(argv: Sequence[str] | None = None) -> int:
    return run("imbsemi demo", argv, "quickstart.yaml")
