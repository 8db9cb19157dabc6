"""Every loss equals its formula on a small hand-computed case, and reduces to CE where it should."""
from __future__ import annotations

import math

import pytest
import torch

from imbsemi.errors import ConfigError
from imbsemi.losses import LOSSES
from imbsemi.losses.logit_adjusted import posthoc_adjust
from imbsemi.losses.weighting import effective_number_weights
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


# Focal loss with class-balanced weights, by hand (spec §6.2, §6.4): counts [20, 5, 1], beta = 0.9.
# E_j = (1 - 0.9^n_j) / 0.1 = [8.784233, 4.0951, 1]; w_j ∝ 1 / E_j, sum 3: [0.251482, 0.539443, 2.209075].
# Per sample: nll_i = -log softmax(z_i)_{y_i}, ce_i = w_{y_i} nll_i, p_i = exp(-ce_i), l_i = (1 - p_i)^gamma ce_i.
#   i  y  nll_i     ce_i      p_i       l_i (gamma 1)  l_i (gamma 2)
#   0  0  0.241311  0.060685  0.941119  0.003573       0.000210
#   1  1  0.551445  0.297473  0.742692  0.076542       0.019695
#   2  2  1.180270  2.607304  0.073733  2.415059       2.236990
#   3  2  0.407606  0.900432  0.406394  0.534502       0.317283
# loss = plain mean of l_i: 0.757419 (gamma 1), 0.643545 (gamma 2). Putting the weight outside the
# focal term and dividing by sum w_{y_i} instead would give 0.431340 and 0.270411.
FOCAL_COUNTS, FOCAL_BETA = [20, 5, 1], 0.9
FOCAL_LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [-0.5, 0.5, 1.5]])
FOCAL_TARGETS = torch.tensor([0, 1, 2, 2])


@pytest.mark.parametrize("gamma, expected", [(1.0, 0.757419), (2.0, 0.643545)])
def test_class_weighted_focal_matches_the_original_formula(gamma: float, expected: float) -> None:
    counts = torch.tensor(FOCAL_COUNTS, dtype=torch.float64)
    weights = (1 - FOCAL_BETA) / (1 - FOCAL_BETA ** counts)
    weights = weights * 3 / weights.sum()
    assert torch.allclose(weights, torch.tensor([0.251482, 0.539443, 2.209075], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(weights, torch.as_tensor(effective_number_weights(FOCAL_COUNTS, FOCAL_BETA)))
    logits = FOCAL_LOGITS.double()
    nll = logits.exp().sum(1).log() - logits[torch.arange(4), FOCAL_TARGETS]
    ce = weights[FOCAL_TARGETS] * nll
    by_hand = ((1 - torch.exp(-ce)) ** gamma * ce).mean()
    assert math.isclose(by_hand.item(), expected, rel_tol=1e-5)

    loss = LOSSES["focal"](FOCAL_COUNTS, gamma=gamma)
    loss.set_class_weight(weights.float())
    assert math.isclose(loss(FOCAL_LOGITS, FOCAL_TARGETS).item(), by_hand.item(), rel_tol=1e-6)
    # The same with a one-hot soft target, and sample weights scale l_i outside the focal term.
    one_hot = torch.nn.functional.one_hot(FOCAL_TARGETS, 3).float()
    assert math.isclose(loss(FOCAL_LOGITS, one_hot).item(), by_hand.item(), rel_tol=1e-6)
    samples = torch.tensor([1.0, 0.5, 0.25, 0.0])
    by_hand_weighted = (samples.double() * (1 - torch.exp(-ce)) ** gamma * ce).mean()
    assert math.isclose(loss(FOCAL_LOGITS, FOCAL_TARGETS, samples).item(), by_hand_weighted.item(), rel_tol=1e-6)


def test_focal_soft_target_uses_the_soft_cross_entropy() -> None:
    # Without class weights ce = -sum_c y_c log softmax(z)_c, p = exp(-ce) = prod_c softmax(z)_c^{y_c}.
    # z = [2, 0], y = [0.5, 0.5]: ce = 0.5 * 0.126928 + 0.5 * 2.126928 = 1.126928, p = 0.324027,
    # l = (1 - p) * ce = 0.761773.
    soft = torch.tensor([[0.5, 0.5]])
    assert math.isclose(LOSSES["focal"]([1, 1])(LOGITS[:1], soft).item(), 0.761773, rel_tol=1e-5)


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
