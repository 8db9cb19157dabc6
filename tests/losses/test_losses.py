"""Every loss equals its formula on a small hand-computed case, and reduces to CE where it should."""
from __future__ import annotations

import math

import pytest
import torch

from imbsemi.errors import ConfigError
from imbsemi.losses import LOSSES
from imbsemi.losses.logit_adjusted import posthoc_adjust
from imbsemi.registry import build

LOGITS = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
TARGETS = torch.tensor([0, 1])
CE_0, CE_1 = 0.126928, 0.313262  # -log(e^2 / (e^2 + 1)), -log(e / (1 + e))


def test_class_weighted_ce_normalises_by_the_target_weights() -> None:
    loss = LOSSES["ce"]([5, 1])
    loss.set_class_weight(torch.tensor([1.0, 3.0]))
    # (1 * 0.126928 + 3 * 0.313262) / (1 + 3), PyTorch's weighted mean (spec §6.1)
    assert math.isclose(loss(LOGITS, TARGETS).item(), 0.266678, rel_tol=1e-5)
    assert math.isclose(loss(LOGITS, TARGETS).item(),
                        torch.nn.functional.cross_entropy(LOGITS, TARGETS, weight=torch.tensor([1.0, 3.0])).item(),
                        rel_tol=1e-6)


@pytest.mark.parametrize("gamma, expected", [(1.0, 0.015130), (2.0, 0.0018036), (0.0, CE_0)])
def test_focal_matches_hand_computation(gamma: float, expected: float) -> None:
    # p = e^2 / (e^2 + 1) = 0.880797; (1 - p)^gamma * 0.126928
    loss = LOSSES["focal"]([1, 1], gamma=gamma)
    assert math.isclose(loss(LOGITS[:1], TARGETS[:1]).item(), expected, rel_tol=1e-4)


def test_ldam_matches_hand_computation() -> None:
    loss = LOSSES["ldam"]([100, 1], max_m=0.5, s=2.0)
    # margins 0.5 * n^(-1/4) / 1 = [0.158114, 0.5]; z' = [0.5 - 0.158114, -0.5]; CE(2 z', 0) = 0.170310
    assert torch.allclose(loss.margins, torch.tensor([0.158114, 0.5]), atol=1e-6)
    assert math.isclose(loss(torch.tensor([[0.5, -0.5]]), torch.tensor([0])).item(), 0.170310, rel_tol=1e-5)


def test_balanced_softmax_and_logit_adjustment_match_hand_computation() -> None:
    zeros, tail = torch.zeros(1, 2), torch.tensor([1])
    # prior [0.75, 0.25]: -log(0.25 / (0.75 + 0.25)) = log 4
    assert math.isclose(LOSSES["balanced_softmax"]([3, 1])(zeros, tail).item(), math.log(4), rel_tol=1e-6)
    # tau = 0.5: -log(0.25^0.5 / (0.75^0.5 + 0.25^0.5)) = 1.005053
    assert math.isclose(LOSSES["logit_adjusted"]([3, 1], tau=0.5)(zeros, tail).item(), 1.005053, rel_tol=1e-5)
    adjusted = posthoc_adjust(zeros, torch.tensor([3.0, 1.0]), tau=1.0)
    assert torch.allclose(adjusted, torch.tensor([[-math.log(0.75), -math.log(0.25)]]))


@pytest.mark.parametrize("name, kwargs", [
    ("balanced_softmax", {}),  # with a uniform prior
    ("logit_adjusted", {"tau": 0.0}),
    ("focal", {"gamma": 0.0}),
])
def test_reduces_to_cross_entropy(name: str, kwargs: dict) -> None:
    logits, targets = torch.randn(16, 5), torch.randint(0, 5, (16,))
    loss = LOSSES[name]([7] * 5, **kwargs)
    assert torch.allclose(loss(logits, targets), torch.nn.functional.cross_entropy(logits, targets), atol=1e-6)


def test_ldam_without_margin_or_scale_on_a_linear_head_is_cross_entropy() -> None:
    logits, targets = torch.randn(16, 5), torch.randint(0, 5, (16,))
    loss = LOSSES["ldam"]([100, 50, 20, 10, 5], max_m=1e-9, s=1.0)  # max_m = 0 itself is refused
    assert torch.allclose(loss(logits, targets), torch.nn.functional.cross_entropy(logits, targets), atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_soft_one_hot_targets_and_sample_weights(name: str) -> None:
    logits, targets = torch.randn(8, 3), torch.randint(0, 3, (8,))
    loss = LOSSES[name]([9, 3, 1])
    one_hot = torch.nn.functional.one_hot(targets, 3).float()
    assert torch.allclose(loss(logits, targets), loss(logits, one_hot), atol=1e-6)
    weights = torch.rand(8)
    per_sample = torch.stack([loss(logits[i:i + 1], targets[i:i + 1]) for i in range(8)])
    assert torch.allclose(loss(logits, targets, weights), (weights * per_sample).mean(), atol=1e-6)


@pytest.mark.parametrize("name, kwargs, message", [
    ("cross_entropy", {}, "unknown name 'cross_entropy'; registered: balanced_softmax, ce, focal, "
                          "ldam, logit_adjusted"),
    ("focal", {"gamma": -1.0}, "gamma = -1.0: must be >= 0"),
    ("ldam", {"max_m": 0.0}, "max_m = 0.0: must be > 0"),
    ("ldam", {"margin": 0.3}, "'ldam' does not accept margin; allowed: max_m, s"),
])
def test_bad_loss_settings_are_clear_errors(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        build(LOSSES, name, kwargs, "loss.name", class_counts=[5, 1])
    assert message in str(info.value)


def test_a_class_without_images_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"class\(es\) \[2\] have no training images"):
        LOSSES["ce"]([5, 1, 0])


def test_soft_target_matches_hand_computation() -> None:
    soft = torch.tensor([[0.5, 0.5]])
    # 0.5 * 0.126928 + 0.5 * 2.126928 = 1.126928
    assert math.isclose(LOSSES["ce"]([1, 1])(LOGITS[:1], soft).item(), 1.126928, rel_tol=1e-5)
