"""The class-difficulty diagnostic of a finished run: does a class suffer from its size or from overlap?

Per class: its training count, its test recall and an overlap score in the run's feature space: the mean
share, over the class's test images, of their ``k`` nearest other test images (cosine similarity of the
L2-normalised features the kNN monitor and t-SNE use) that carry another label. The neighbours come from
the test split, whose classes are balanced: among training neighbours a class with fewer than ``k``
images would score at least 1 - n_c / k by its size alone, which is the confound the diagnostic separates.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightly.utils.benchmarking.knn import knn_predict
from scipy.stats import spearmanr
from torch import nn

from imbsemi import plots
from imbsemi.checkpoints import load_backbone, load_classifier
from imbsemi.config import CommonConfig
from imbsemi.config_files import load_config
from imbsemi.data.loader import eval_loader
from imbsemi.errors import DataError
from imbsemi.io import atomic_write, read_json, write_json
from imbsemi.ssl.knn import embed
from imbsemi.stages.build import Splits, make_model, make_splits

DEFAULT_K = 10


@dataclass(frozen=True)
class Diagnosis:
    """Per class (index = label): training count, test recall and overlap; the Spearman correlations of
    recall with log-count and with overlap across classes; the files written."""
    counts: list[int]
    recall: list[float]
    overlap: list[float]
    size_correlation: float
    overlap_correlation: float
    files: dict[str, Path]


def class_overlap(features: torch.Tensor, labels: torch.Tensor, num_classes: int, k: int) -> list[float]:
    """Per class, the mean share of each of its images' ``k`` nearest other images (cosine similarity of
    L2-normalised ``features``) with another label."""
    similarity = features @ features.T
    similarity.fill_diagonal_(-float("inf"))  # an image is not its own neighbour
    neighbours = similarity.topk(min(k, len(features) - 1), dim=1).indices
    foreign = (labels[neighbours] != labels[:, None]).float().mean(1)
    return [float(foreign[labels == c].mean()) if (labels == c).any() else float("nan") for c in range(num_classes)]


def run_network(folder: Path, config: CommonConfig, splits: Splits, metrics: dict[str, Any]) -> nn.Module:
    """The network whose features the run's predictions rest on: its classifier (model.pt), its SSP backbone
    (backbone.pt) or, for an ensemble run, its init network."""
    if (folder / "model.pt").is_file():
        return load_classifier(folder / "model.pt")[0]
    model = make_model(config, splits, splits.num_classes)
    source = folder / "backbone.pt" if (folder / "backbone.pt").is_file() else (metrics.get("init") or {}).get("path")
    if source is None:
        raise DataError(f"{folder}: no model.pt, backbone.pt or init network; expected a finished classifier, SSP or "
                        "ensemble run")
    load_backbone(model, source, keep_head=False)
    return model.eval()


def diagnosable_runs(folder: Path) -> list[Path]:
    """``folder``, or for a pipeline run the run folder of each variant's last stage."""
    metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else {}
    chains, stages = metrics.get("variants"), metrics.get("stages")
    if isinstance(chains, dict) and isinstance(stages, dict):
        return [Path(stages[chain[-1]]["folder"]) for chain in chains.values()]
    return [folder]


def diagnose_run(folder: Path, k: int = DEFAULT_K) -> Diagnosis:
    """Diagnose the finished run in ``folder``; writes ``diagnose/diagnose.{json,md}`` and
    ``diagnose/recall_vs_count.png``. Recall is the run's own test report's, or for an SSP run the kNN
    vote of the labeled images' features (the monitor's k and temperature).

    Raises:
        DataError: ``folder`` is not a finished run of a stage with a network.
    """
    from imbsemi.stages.table import STAGES

    if not (folder / "run.json").is_file() or not (folder / "metrics.json").is_file():
        raise DataError(f"{folder}: no run.json and metrics.json; expected the folder of a finished run")
    stage = read_json(folder / "run.json")["stage"]
    config = load_config(STAGES[stage].config, folder / "config.yaml", [])
    metrics, splits = read_json(folder / "metrics.json"), make_splits(config)
    model = run_network(folder, config, splits, metrics)
    test_features, test_labels = embed(model, eval_loader(splits.test, splits.mean, splits.std, "cpu"))
    test = metrics.get("test")
    if isinstance(test, dict) and "per_class_acc" in test:
        recall = list(test["per_class_acc"])
    else:
        bank, bank_labels = embed(model, eval_loader(splits.labeled, splits.mean, splits.std, "cpu"))
        predicted = knn_predict(test_features, bank.T, bank_labels, splits.num_classes, min(config.knn.k, len(bank)),
                                config.knn.t)[:, 0]
        recall = [float((predicted[test_labels == c] == c).float().mean()) for c in range(splits.num_classes)]
    overlap = class_overlap(test_features, test_labels, splits.num_classes, k)
    counts = list(splits.counts)
    size_rho, overlap_rho = (float(spearmanr(values, recall).statistic) for values in (np.log(counts), overlap))
    out = folder / "diagnose"
    files = {"json": out / "diagnose.json", "table": out / "diagnose.md", "plot": out / "recall_vs_count.png"}
    write_json(files["json"], {"k": k, "counts": counts, "recall": recall, "overlap": overlap,
                               "spearman_recall_log_count": size_rho, "spearman_recall_overlap": overlap_rho})
    with atomic_write(files["table"], "w") as handle:
        handle.write(diagnosis_table(counts, recall, overlap, size_rho, overlap_rho, k))
    plots.recall_vs_count(files["plot"], counts, recall, overlap, f"{folder.name}: test recall vs training images")
    return Diagnosis(counts, recall, overlap, size_rho, overlap_rho, files)


def diagnosis_table(counts: list[int], recall: list[float], overlap: list[float], size_rho: float,
                    overlap_rho: float, k: int) -> str:
    """Markdown: one row per class (fewest training images first) and the two rank correlations."""
    lines = [f"| class | training images | test recall (%) | overlap (%), k = {k} |", "|---|---|---|---|"]
    for label in np.argsort(counts, kind="stable"):
        lines.append(f"| {label} | {counts[label]} | {100 * recall[label]:.1f} | {100 * overlap[label]:.1f} |")
    lines += ["", f"Spearman correlation of recall with log training count: {size_rho:+.2f}; with overlap: "
              f"{overlap_rho:+.2f}.", ""]
    return "\n".join(lines)
