"""Report figures as PNG files: per-class accuracy against class size, pseudo-label precision and
recall per class, a confusion matrix and a t-SNE of test features (matplotlib and scikit-learn
imported lazily)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from imbsemi.io import atomic_write


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, path: Path) -> None:
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")


def per_class_bars(path: Path, train_counts: Sequence[int], series: Mapping[str, Sequence[float | None]],
                   title: str) -> None:
    """Grouped bars of per-class values (one group per class, head to tail by training count)."""
    plt = _figure()
    order = np.argsort(train_counts)[::-1]
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(order)), 3.5))
    for i, (name, values) in enumerate(series.items()):
        heights = [np.nan if values[c] is None else 100 * values[c] for c in order]
        ax.bar(np.arange(len(order)) + i * width, heights, width, label=name)
    ax.set_xticks(np.arange(len(order)) + width * (len(series) - 1) / 2)
    ax.set_xticklabels([f"{c}\n({train_counts[c]})" for c in order], fontsize=8)
    ax.set_xlabel("class (training images)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def confusion_matrix(path: Path, confusion: Sequence[Sequence[int]], title: str) -> None:
    """Heat map of a confusion matrix as row shares (rows: true class, columns: predicted), with counts."""
    plt = _figure()
    counts = np.asarray(confusion, dtype=float)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(counts))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        if count:
            ax.text(col, row, f"{int(count)}", ha="center", va="center", fontsize=7,
                    color="white" if shares[row, col] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(len(counts)))
    ax.set_yticks(range(len(counts)))
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)


def tsne_embedding(features: np.ndarray, seed: int, max_points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(2-d t-SNE coordinates, indices of the embedded points): at most ``max_points``, chosen by ``seed``."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(len(features))[:max_points])
    perplexity = float(min(30, max(2, len(chosen) - 1) // 3))
    coordinates = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
        features[chosen].astype(np.float32))
    return coordinates, chosen


def tsne_scatter(path: Path, coordinates: np.ndarray, labels: np.ndarray, title: str) -> None:
    """Scatter of 2-d coordinates coloured by class."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    points = ax.scatter(coordinates[:, 0], coordinates[:, 1], c=labels, cmap="tab10", s=6)
    ax.legend(*points.legend_elements(), fontsize=6, loc="best", title="class")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)


def errorbar_lines(path: Path, x_label: str, series: Mapping[str, tuple[Sequence[float], ...]], y_label: str,
                   title: str) -> None:
    """One line per series of (x values, means, standard deviations), with error bars."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, (xs, means, spreads) in series.items():
        ax.errorbar(xs, means, yerr=spreads, marker="o", capsize=3, label=name)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)


def recall_vs_count(path: Path, counts: Sequence[int], recall: Sequence[float], overlap: Sequence[float],
                    title: str) -> None:
    """Per class: test recall against training images (log scale), coloured by the overlap score, labeled by
    class index."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    points = ax.scatter(counts, 100 * np.asarray(recall), c=100 * np.asarray(overlap), cmap="viridis", s=40,
                        vmin=0, vmax=100)
    for label, (x, y) in enumerate(zip(counts, recall)):
        ax.annotate(str(label), (x, 100 * y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    fig.colorbar(points, ax=ax, label="overlap (%)")
    ax.set_xscale("log")
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("test recall (%)")
    ax.set_ylim(-5, 105)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)


def line_panels(path: Path, xs: Sequence[float], panels: Mapping[str, Mapping[str, Sequence[float]]], x_label: str,
                y_label: str, log_x: bool = False) -> None:
    """Side-by-side panels (title -> {line label -> y values at ``xs``}) with a shared y axis; a line whose label
    ends in ``(dashed)`` is dashed."""
    plt = _figure()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), sharey=True, squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels.items()):
        for label, ys in lines.items():
            dashed = label.endswith("(dashed)")
            ax.plot(xs, ys, marker="x" if dashed else "o", linestyle="--" if dashed else "-",
                    label=label.removesuffix(" (dashed)"))
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(y_label)
    axes[0][0].legend(fontsize=7)
    _save(fig, path)
    plt.close(fig)
