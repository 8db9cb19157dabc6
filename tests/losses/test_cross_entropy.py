"""Cross-entropy equals its formula on a hand-computed case."""
from __future__ import annotations

import math

import torch

from imbsemi.losses import LOSSES


def test_hard_target_matches_hand_computation() -> None:
    loss = LOSSES["ce"]([5, 1])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    # -log(e^2 / (e^2 + 1)) = 0.126928; -log(e / (1 + e)) = 0.313262
    assert math.isclose(loss(logits, torch.tensor([0, 1])).item(), (0.126928 + 0.313262) / 2, rel_tol=1e-5)


def test_soft_target_and_sample_weights() -> None:
    loss = LOSSES["ce"]([1, 1])
    logits = torch.tensor([[2.0, 0.0]])
    soft = torch.tensor([[0.5, 0.5]])
    # 0.5 * 0.126928 + 0.5 * 2.126928 = 1.126928
    assert math.isclose(loss(logits, soft).item(), 1.126928, rel_tol=1e-5)
    assert math.isclose(loss(logits, torch.tensor([0]), torch.tensor([3.0])).item(), 3 * 0.126928, rel_tol=1e-5)
