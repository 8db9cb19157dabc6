"""Markdown tables of multi-seed experiments: metrics per variant (mean ± sd over seeds) and the paired
gain of every variant over a base variant (same seed), shared by the experiments that compare variants."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from imbsemi.metrics import mean_std

GAIN_LABELS = {"balanced_acc": "balanced", "few": "few-shot", "macro_f1": "macro-F1", "g_mean": "G-mean"}

Results = Mapping[str, Mapping[str, Sequence[float]]]  # variant -> metric -> one value per seed


def add_reports(results: dict[str, dict[str, list[float]]], reports: Mapping[str, Mapping[str, float]],
                groups: Sequence[str]) -> None:
    """Append one seed's test report of each variant (``reports``: variant -> report) to ``results``."""
    for variant, report in reports.items():
        for group in groups:
            results.setdefault(variant, {g: [] for g in groups})[group].append(report[group])


def metric_table(results: Results, groups: Sequence[str]) -> list[str]:
    """| variant | <group> ... | with mean ± sd in %."""
    lines = ["| variant | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    return lines + [f"| {v} | " + " | ".join(mean_std(results[v][g]) for g in groups) + " |" for v in results]


def gain_table(results: Results, base: str, groups: Sequence[str]) -> list[str]:
    """The paired gain over ``base`` (points, mean ± sd) per variant and group, the seeds with a gain in the
    first group, and the first group's gain per seed."""
    first = groups[0]
    header = ["variant", *(f"{GAIN_LABELS.get(g, g)} gain" for g in groups),
              f"seeds with a {GAIN_LABELS.get(first, first)} gain", f"per-seed {GAIN_LABELS.get(first, first)}"]
    lines = [f"Paired gain over {base} (same seed, points).", "", "| " + " | ".join(header) + " |",
             "|---" * len(header) + "|"]
    for variant in results:
        if variant == base:
            continue
        gain = {g: np.subtract(results[variant][g], results[base][g]) for g in groups}
        lines.append(f"| {variant} | " + " | ".join(mean_std(gain[g]) for g in groups) + f" | "
                     f"{int((gain[first] > 0).sum())}/{len(gain[first])} | "
                     + ", ".join(f"{100 * d:+.1f}" for d in gain[first]) + " |")
    return lines
