"""Report figures: real PNG files from the stage runs, and a seeded t-SNE."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from imbsemi import plots


def assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 200 and image.size[1] > 200


def test_per_class_bars_and_tsne(tmp_path: Path) -> None:
    plots.per_class_bars(tmp_path / "bars.png", [50, 5, 20], {"a": [0.9, 0.1, None], "b": [1.0, 0.5, 0.7]}, "t")
    assert_png(tmp_path / "bars.png")
    features = np.concatenate([np.random.default_rng(0).normal(c * 5, 1, (40, 8)) for c in range(3)])
    first, chosen = plots.tsne_embedding(features, seed=0, max_points=100)
    again, _ = plots.tsne_embedding(features, seed=0, max_points=100)
    assert first.shape == (100, 2) and len(set(chosen)) == 100 and np.allclose(first, again)
    labels = chosen // 40
    centres = np.stack([first[labels == c].mean(0) for c in range(3)])
    spread = max(first[labels == c].std(0).max() for c in range(3))
    assert min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i)) > 2 * spread
    plots.tsne_scatter(tmp_path / "tsne.png", first, labels, "t")
    assert_png(tmp_path / "tsne.png")
