"""FixMatch's loss, mask, EMA and schedule on hand-computed cases; pseudo-label statistics."""
from __future__ import annotations

import math

import pytest
import torch

from imbsemi.config import SemiOptimConfig
from imbsemi.semi.base import cosine_factor
from imbsemi.semi.stats import PseudoLabelStats
from semi_helpers import batch, module


def ce(logits: list[float], label: int) -> float:
    return -logits[label] + math.log(sum(math.exp(v) for v in logits))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_loss_is_labeled_ce_plus_lambda_times_masked_strong_ce() -> None:
    fixmatch = module(threshold=0.8, lambda_u=0.5)
    step = batch(labeled=[[1.0, 0.0]], targets=[1], weak=[[3.0, 0.0], [0.2, 0.1]], strong=[[[0.5, 0.5], [0.0, 1.0]]])
    loss = fixmatch.training_step(step, 0)
    # labeled logits (2, 0, 1), target 1; weak image 1: logits (6, 0, 3) -> p_max = 0.95 >= 0.8, label 0;
    # weak image 2: logits (0.4, 0.2, 0.3) -> p_max 0.37: masked out. Strong image 1: logits (1, 1, 1)
    unlabeled = (ce([1.0, 1.0, 1.0], 0) * 1 + 0) / 2
    assert loss.item() == pytest.approx(ce([2.0, 0.0, 1.0], 1) + 0.5 * unlabeled, rel=1e-6)


def test_mask_keeps_exactly_the_predictions_at_or_over_the_threshold() -> None:
    fixmatch = module(threshold=0.6)
    targets = torch.tensor([[0.6, 0.3, 0.1], [0.59, 0.4, 0.01], [0.1, 0.1, 0.8]])
    assert fixmatch.confidence_mask(targets, None).tolist() == [1.0, 0.0, 1.0]


def test_ema_averages_parameters_and_copies_buffers() -> None:
    fixmatch = module(ema=0.9)
    with torch.no_grad():
        fixmatch.net["model"].fc.weight.add_(1.0)
    before = fixmatch.ema["model"].fc.weight.clone()
    fixmatch.on_train_batch_end(None, None, 0)
    expected = 0.9 * before + 0.1 * fixmatch.net["model"].fc.weight
    torch.testing.assert_close(fixmatch.ema["model"].fc.weight, expected)


def test_cosine_schedule_is_fixmatchs() -> None:
    assert cosine_factor(0, 100) == 1.0
    assert cosine_factor(100, 100) == pytest.approx(math.cos(7 * math.pi / 16))
    assert cosine_factor(50, 100) == pytest.approx(math.cos(7 * math.pi / 32))


def test_no_weight_decay_on_biases_and_batchnorm() -> None:
    groups = module(optim=SemiOptimConfig(weight_decay=0.01)).configure_optimizers()["optimizer"].param_groups
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0]
    assert [p.ndim for p in groups[0]["params"]] == [2] and [p.ndim for p in groups[1]["params"]] == [1]
    assert groups[0]["nesterov"] is True


def test_pseudo_label_statistics_by_class() -> None:
    stats = PseudoLabelStats(3)
    # pseudo-labels, mask, reference: two class-0 images (one kept right, one kept wrong as 1), one
    # class-1 image dropped, one irrelevant image kept as 1
    stats.update(torch.tensor([0, 1, 1, 1]), torch.tensor([1.0, 1.0, 0.0, 1.0]), torch.tensor([0, 0, 1, -1]))
    summary = stats.summary()
    assert summary["mask_rate"] == 0.75 and summary["accuracy"] == pytest.approx(1 / 3)
    assert summary["class_mask_rate"] == [1.0, 0.0, None] and summary["class_recall"] == [0.5, 0.0, None]
    assert summary["class_precision"] == [1.0, 0.0, None] and summary["irrelevant_mask_rate"] == 1.0
    stats.reset()
    assert stats.summary()["mask_rate"] is None
