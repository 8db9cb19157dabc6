"""kNN evaluation of a backbone: L2-normalised features, at the end of the network or of one of its
stages, and the temperature-weighted vote of lightly's ``knn_predict``."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from lightly.utils.benchmarking.knn import knn_predict
from torch import nn

KNN_K, KNN_T = 20, 0.1  # the monitor's defaults: neighbours and vote temperature (lightly's benchmarks)


def check_layer(backbone: nn.Module, layer: str | None) -> None:
    """Raise ValueError unless ``layer`` is None or names a submodule of ``backbone`` (e.g. "layer2")."""
    if layer is None:
        return
    try:
        backbone.get_submodule(layer)
    except AttributeError:
        stages = [name for name, _ in backbone.named_children()]
        raise ValueError(f"knn_layer = {layer!r}: {type(backbone).__name__} has no such submodule; "
                         f"its top-level modules are {', '.join(stages)}") from None


def pooled_features(backbone: nn.Module, images: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """L2-normalised features (N, D) of ``images``: ``backbone.features``, or with ``layer`` the
    global average over H and W of that submodule's (N, D, H, W) output."""
    if layer is None:
        return F.normalize(backbone.features(images).float(), dim=1)
    captured: list[torch.Tensor] = []
    handle = backbone.get_submodule(layer).register_forward_hook(lambda module, inputs, out: captured.append(out))
    try:
        backbone.features(images)
    finally:
        handle.remove()
    return F.normalize(captured[0].float().mean((2, 3)), dim=1)


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor,
                 num_classes: int, k: int, temperature: float) -> float:
    """Share of ``features`` whose weighted vote among their ``k`` nearest ``bank`` rows (cosine
    similarity; weights exp(similarity / temperature)) is their label; a bank smaller than ``k``
    votes whole."""
    predicted = knn_predict(features, bank.T, bank_labels, num_classes, min(k, len(bank)), temperature)[:, 0]
    return (predicted == labels).float().mean().item()


@torch.no_grad()
def embed(backbone: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
          layer: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of every (images, labels) batch, concatenated."""
    parts = [(pooled_features(backbone, images, layer), labels) for images, labels in batches]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
