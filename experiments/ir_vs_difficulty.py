"""Imbalance is a symptom: the toy study. Two 2-D binary tasks, one separable (class means 6 sd apart:
Bayes error 0.13%) and one overlapping (1 sd apart: Bayes error 31%), each at imbalance ratios 1 ... 100
(1,000 majority points, 1,000 / IR minority ones), classified by kNN (k = 5) and AdaBoost (50 stumps) from
scikit-learn and tested on a balanced test set of 2 x 1,000 points. Reports the balanced error and the
minority-class error (mean ± sd over seeds) per task, classifier and IR; one figure.

    python experiments/ir_vs_difficulty.py [--seeds 10] [--out experiments/results/ir_vs_difficulty]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import AdaBoostClassifier
from sklearn.metrics import balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier

from imbsemi.io import atomic_write
from imbsemi.plots import line_panels

TASKS = {"separable": 6.0, "overlapping": 1.0}  # distance of the class means, in standard deviations
RATIOS = (1, 2, 5, 10, 20, 50, 100)
CLASSIFIERS = {"kNN (k=5)": lambda seed: KNeighborsClassifier(5),
               "AdaBoost (50 stumps)": lambda seed: AdaBoostClassifier(n_estimators=50, random_state=seed)}
MAJORITY, TEST_PER_CLASS = 1000, 1000


def sample(rng: np.random.Generator, distance: float, n_majority: int,
           n_minority: int) -> tuple[np.ndarray, np.ndarray]:
    """Points of N((0, 0), I) (class 0) and N((distance, 0), I) (class 1)."""
    points = rng.normal(size=(n_majority + n_minority, 2))
    labels = np.repeat([0, 1], [n_majority, n_minority])
    points[labels == 1, 0] += distance
    return points, labels


def errors(task: str, ratio: int, classifier: str, seed: int) -> tuple[float, float]:
    """(balanced error, minority-class error) of one fit."""
    rng = np.random.default_rng([seed, ratio, list(TASKS).index(task)])
    x, y = sample(rng, TASKS[task], MAJORITY, MAJORITY // ratio)
    x_test, y_test = sample(rng, TASKS[task], TEST_PER_CLASS, TEST_PER_CLASS)
    predicted = CLASSIFIERS[classifier](seed).fit(x, y).predict(x_test)
    return 1 - balanced_accuracy_score(y_test, predicted), float((predicted[y_test == 1] != 1).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/ir_vs_difficulty"))
    args = parser.parse_args(argv)
    results = {(task, clf, ratio): [errors(task, ratio, clf, seed) for seed in range(args.seeds)]
               for task in TASKS for clf in CLASSIFIERS for ratio in RATIOS}

    def cell(values: list[float]) -> str:
        return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"

    lines = [f"Toy study, {args.seeds} seeds: balanced error / minority-class error (%), mean ± sd, on a balanced "
             "test set. IR = majority / minority training points (1,000 majority points).", "",
             "| task | classifier | " + " | ".join(f"IR {r}" for r in RATIOS) + " |",
             "|---|---|" + "---|" * len(RATIOS)]
    for task in TASKS:
        for clf in CLASSIFIERS:
            rows = [results[task, clf, r] for r in RATIOS]
            lines.append(f"| {task} | {clf} | " + " | ".join(
                f"{cell([e[0] for e in row])} / {cell([e[1] for e in row])}" for row in rows) + " |")
    panels = {f"{task} (means {TASKS[task]:g} sd apart)": {
        f"{clf}: {kind}": [100 * statistics.mean(e[i] for e in results[task, clf, r]) for r in RATIOS]
        for clf in CLASSIFIERS for i, kind in enumerate(("balanced error", "minority error (dashed)"))}
        for task in TASKS}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    line_panels(args.out.with_suffix(".png"), RATIOS, panels, "imbalance ratio (log scale)", "error (%)", log_x=True)
    with atomic_write(args.out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("RESULT " + " ".join(
        f"{task}/{clf.split()[0]}/IR{r}={statistics.mean(e[0] for e in results[task, clf, r]):.3f}"
        for task in TASKS for clf in CLASSIFIERS for r in (1, 100)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
