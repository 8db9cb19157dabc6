"""A tiny network and hand-made batches for the formula tests of the FixMatch family."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from imbsemi.config import SemiConfig
from imbsemi.data.paired_loader import PairedBatch
from imbsemi.semi.base import FixMatch


class Tiny(nn.Module):
    """features = the flattened input (2-d); fc a linear head: logits are hand-computable."""
    feature_dim = 2

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(2, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def batch(labeled: list[list[float]], targets: list[int], weak: list[list[float]],
          strong: list[list[list[float]]], reference: list[int] | None = None) -> PairedBatch:
    """A PairedBatch of 2-d 'images' (N, 2, 1, 1)."""
    def images(rows: list[list[float]]) -> torch.Tensor:
        return torch.tensor(rows).view(len(rows), 2, 1, 1)
    n = len(weak)
    return PairedBatch(images(labeled), torch.tensor(targets), torch.arange(len(labeled)), images(weak),
                       tuple(images(view) for view in strong), torch.arange(n),
                       torch.tensor(reference if reference is not None else [0] * n))


def module(method: type[FixMatch] = FixMatch, counts: tuple[int, ...] = (4, 2, 1), pool_size: int = 4,
           **settings: object) -> FixMatch:
    """``method`` on Tiny with identity-like weights: logits = x @ W.T, W rows (2, 0), (0, 2), (1, 1)."""
    model = Tiny(len(counts))
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])[:len(counts)])
        model.fc.bias.zero_()
    return method(model, replace(SemiConfig(), **settings), list(counts), pool_size)
