"""DARP: the solver on hand-computed cases, the removal of noisy entries, the memory and refinement schedule."""
from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace

import pytest
import torch

from imbsemi.semi.darp import DARP, opt_solver, remove_noisy_entries
from semi_helpers import batch, module


def test_solver_output_has_the_target_column_sums_equal_entropies() -> None:
    # Rows of equal entropy: M = diag(x) A diag(y), Sinkhorn scaling. With s = y_0 / y_1 = 1/2:
    # (0.8 s, 0.2) -> (0.4, 0.2) / 0.6 = (2/3, 1/3); (0.2 s, 0.8) -> (0.1, 0.8) / 0.9 = (1/9, 8/9);
    # columns 2/3 + 2/3 + 1/9 = 13/9 and 1/3 + 1/3 + 8/9 = 14/9: the totals the solver is given.
    probs = torch.tensor([[0.8, 0.2], [0.8, 0.2], [0.2, 0.8]])
    refined = opt_solver(probs, torch.tensor([13 / 9, 14 / 9]), iterations=10)
    expected = torch.tensor([[2 / 3, 1 / 3], [2 / 3, 1 / 3], [1 / 9, 8 / 9]])
    torch.testing.assert_close(refined, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(refined.sum(0), torch.tensor([13 / 9, 14 / 9]), atol=1e-5, rtol=0)
    torch.testing.assert_close(refined.sum(1), torch.ones(3))


def test_solver_weights_rows_by_their_inverse_entropy() -> None:
    # M_ij = A_ij exp(-nu_j H_i) / Z_i with nu = (0, 1); H_i = -sum_j A_ij log(A_ij + 1e-6):
    # H = (0.6931, 0.3251, 0.6109). Row (0.5, 0.5): (0.5, 0.5 e^-0.6931 = 0.25) -> (2/3, 1/3);
    # (0.9, 0.1 e^-0.3251 = 0.0722) -> (0.9257, 0.0743); (0.3, 0.7 e^-0.6109 = 0.3800) -> (0.4412, 0.5588).
    # Given those column sums (2.0335, 0.9665) the solver must find this M (plain Sinkhorn would not).
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]], dtype=torch.float64)
    entropy = -(probs * torch.log(probs + 1e-6)).sum(1, keepdim=True)
    scaled = probs * torch.exp(-entropy * torch.tensor([0.0, 1.0], dtype=torch.float64))
    totals = (scaled / scaled.sum(1, keepdim=True)).sum(0)
    refined = opt_solver(probs, totals, iterations=10)
    expected = torch.tensor([[2 / 3, 1 / 3], [0.9257, 0.0743], [0.4412, 0.5588]], dtype=torch.float64)
    torch.testing.assert_close(refined, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(refined.sum(0), totals, atol=1e-8, rtol=0)


def test_noisy_entries_are_removed_per_class() -> None:
    # totals c = (2, 1), alpha = 2: class 0 keeps floor(4) >= 3 rows (sum 1.7), class 1 floor(2) = 2 rows,
    # 0.7 and 0.4 (sum 1.1); scales 2 / 1.7 and 1 / 1.1. Row 0: (0.8 x 2/1.7, 0) -> (1, ~1e-6);
    # row 1: (1.2/1.7, 0.4/1.1) -> 13.2 / (13.2 + 6.8) = 0.66; row 2: (0.6/1.7, 0.7/1.1) -> 0.66 / 1.85 = 0.35676
    probs = torch.tensor([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    cleaned = remove_noisy_entries(probs, torch.tensor([2.0, 1.0]), alpha=2.0)
    expected = torch.tensor([[1.0, 0.0], [0.66, 0.34], [0.66 / 1.85, 1.19 / 1.85]])
    torch.testing.assert_close(cleaned, expected, atol=1e-5, rtol=0)


def darp_at(step: int, **kwargs: object) -> DARP:
    darp = module(partial(DARP, **kwargs), steps=100, pool_size=5)
    darp.trainer = SimpleNamespace(global_step=step)
    return darp


def test_memory_is_written_and_the_targets_are_the_raw_probabilities_before_the_warm_up() -> None:
    darp = darp_at(70, darp_warmup_ratio=0.75)  # the first refinement: ceil(75 / 10) x 10 = 80
    assert darp.refine_start() == 80
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    out = SimpleNamespace(batch=SimpleNamespace(unlabeled_index=torch.tensor([3, 1])))
    assert torch.equal(darp.pseudo_targets(probs, out), probs)
    assert torch.equal(darp.memory[[3, 1]], probs) and torch.equal(darp.memory[0], torch.full((3,), 1 / 3))


def test_after_the_warm_up_the_refined_rows_are_served_and_refreshed_every_num_refine_iter() -> None:
    darp = darp_at(80, darp_warmup_ratio=0.75)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    out = SimpleNamespace(batch=SimpleNamespace(unlabeled_index=torch.tensor([3, 1])))
    targets = darp.pseudo_targets(probs, out)
    # totals: labeled counts (4, 2, 1) / 7 x pool size 5
    expected = darp.refine(darp.memory)
    torch.testing.assert_close(darp.target_totals(), torch.tensor([20 / 7, 10 / 7, 5 / 7]))
    assert torch.equal(targets, expected[[3, 1]]) and not torch.allclose(targets, probs, atol=1e-2)
    darp.trainer = SimpleNamespace(global_step=81)  # not a refinement step: memory written, refined kept
    later = darp.pseudo_targets(torch.tensor([[0.2, 0.2, 0.6], [0.3, 0.3, 0.4]]), out)
    assert torch.equal(later, expected[[3, 1]]) and darp.memory[3].tolist() == pytest.approx([0.2, 0.2, 0.6])


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_step_is_finite_and_the_memories_are_in_the_state() -> None:
    darp = module(partial(DARP, darp_warmup_ratio=0.0), threshold=0.5)  # refinement at step 0
    step = batch(labeled=[[1.0, 0.0], [0.0, 1.0]], targets=[0, 1], weak=[[3.0, 0.0], [0.0, 3.0]],
                 strong=[[[2.0, 0.5], [0.5, 2.0]]])
    loss = darp.training_step(step, 0)
    assert math.isfinite(loss.item())
    assert {"memory", "refined"} <= set(darp.state_dict())
    torch.testing.assert_close(darp.refined.sum(1), torch.ones(4))
    assert not torch.allclose(darp.refined, torch.full((4, 3), 1 / 3))
