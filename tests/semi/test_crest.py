"""CReST+: the class-rebalancing selection, progressive distribution alignment, generation boundaries."""
from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace

import pytest
import torch

from imbsemi.semi.crest import CReST, rebalancing_selection
from semi_helpers import batch, module


def one_hot_logits(rows: list[tuple[int, float]], classes: int = 3) -> torch.Tensor:
    """Logit ``value`` for class ``k``, 0 elsewhere: predicted k, more confident the larger the value."""
    logits = torch.zeros(len(rows), classes)
    for i, (k, value) in enumerate(rows):
        logits[i, k] = value
    return logits


def test_selection_counts_follow_the_mirrored_class_counts() -> None:
    # labeled counts (4, 2, 1), alpha 3: mu = ((1/4)^(1/3), (2/4)^(1/3), 1) = (0.630, 0.794, 1):
    # 8 predicted 0 -> floor(5.04) = 5; 4 predicted 1 -> floor(3.17) = 3; 2 predicted 2 -> 2
    logits = one_hot_logits([(0, 1.0 + i) for i in range(8)] + [(1, 1.0 + i) for i in range(4)] + [(2, 1.0)] * 2)
    labels = rebalancing_selection(logits, torch.tensor([4.0, 2.0, 1.0]), alpha=3.0)
    assert [(labels == k).sum().item() for k in range(3)] == [5, 3, 2] and (labels == -1).sum().item() == 4


def test_selection_ranks_classes_by_labeled_count_and_keeps_the_most_confident() -> None:
    # counts (2, 8, 4): ranks class 1, class 2, class 0; N = (8, 4, 2); alpha 1:
    # mu(class 1) = N_3 / N_1 = 0.25, mu(class 2) = N_2 / N_1 = 0.5, mu(class 0) = 1.
    # predicted 1: values (1, 4, 2, 3) -> floor(1) = 1 -> image 1; predicted 2: values (5, 1, 3, 2, 4) at
    # images 4..8 -> floor(2.5) = 2 -> images 4 and 8; predicted 0: image 9 -> 1 -> image 9
    rows = [(1, 1.0), (1, 4.0), (1, 2.0), (1, 3.0), (2, 5.0), (2, 1.0), (2, 3.0), (2, 2.0), (2, 4.0), (0, 1.0)]
    labels = rebalancing_selection(one_hot_logits(rows), torch.tensor([2.0, 8.0, 4.0]), alpha=1.0)
    assert labels.tolist() == [-1, 1, -1, -1, 2, -1, -1, -1, 2, 0]


def test_alignment_to_the_labeled_distribution_at_the_first_and_last_generation() -> None:
    crest = module(CReST)  # labeled counts (4, 2, 1): p = (4, 2, 1) / 7; 6 generations
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    # first batch: p_model = its mean (0.3, 0.45, 0.25); t = 1:
    # row 1 x 7: (0.5 x 4 / 0.3, 0.3 x 2 / 0.45, 0.2 / 0.25) = (6.667, 1.333, 0.8) / 8.8 = (25, 5, 3) / 33
    # row 2 x 7: (0.1 x 4 / 0.3, 0.6 x 2 / 0.45, 0.3 / 0.25) = (1.333, 2.667, 1.2) / 5.2 = (10, 20, 9) / 39
    aligned = crest.pseudo_targets(probs, None)
    expected = torch.tensor([[25 / 33, 5 / 33, 3 / 33], [10 / 39, 20 / 39, 9 / 39]])
    torch.testing.assert_close(aligned, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(crest.p_model, torch.tensor([0.3, 0.45, 0.25]))
    # last generation g = 5: t = 0.5, p^t proportional to (2, 1.414, 1); the next batch moves p_model by
    # 0.001 x (its mean - p_model) = 0.001 x ((0.2, 0.5, 0.3) - (0.3, 0.45, 0.25))
    crest.generation.fill_(5)
    assert crest.temperature().item() == pytest.approx(0.5)
    second = torch.tensor([[0.3, 0.4, 0.3], [0.1, 0.6, 0.3]])
    aligned = crest.pseudo_targets(second, None)
    p_model = torch.tensor([0.3 - 1e-4, 0.45 + 5e-5, 0.25 + 5e-5])
    torch.testing.assert_close(crest.p_model, p_model)
    # row 1: (0.3 x 2 / 0.2999, 0.4 x 1.4142 / 0.45005, 0.3 / 0.25005) = (2.0007, 1.2569, 1.1998) / 4.4574
    torch.testing.assert_close(aligned[0], torch.tensor([0.44885, 0.28199, 0.26917]), atol=1e-4, rtol=0)


def test_temperature_goes_linearly_from_one_to_dist_align_t() -> None:
    crest = module(partial(CReST, num_generations=6, crest_dist_align_t=0.5))
    temperatures = []
    for g in range(6):
        crest.generation.fill_(g)
        temperatures.append(crest.temperature().item())
    assert temperatures == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])


def test_without_progressive_alignment_the_probabilities_are_the_targets() -> None:
    crest = module(partial(CReST, crest_pro_dist_align=False))
    probs = torch.tensor([[0.5, 0.3, 0.2]])
    assert torch.equal(crest.pseudo_targets(probs, None), probs)


def test_generation_boundary_relabels_the_pool_with_the_ema_network() -> None:
    crest = module(partial(CReST, num_generations=4), steps=100, pool_size=3)  # generations of 25 steps
    pool = torch.tensor([[3.0, 0.0], [0.0, 3.0], [0.1, 0.2]]).view(3, 2, 1, 1)
    calls = []
    datamodule = SimpleNamespace(pool_logits=lambda logits: calls.append(1) or logits(pool))
    crest.trainer = SimpleNamespace(global_step=20, datamodule=datamodule)
    crest.on_interval_end()  # 20 < 25: still generation 0
    assert not calls and crest.labeled_additions() is None
    # at step 30 (the first evaluation past 25): EMA logits (6, 0, 3), (0, 6, 3), (0.2, 0.4, 0.3): class 0
    # has 1 image, floor(1 x 0.630) = 0 taken; class 1 has 2, floor(2 x 0.794) = 1: the confident image 1
    crest.trainer.global_step = 30
    crest.on_interval_end()
    index, labels = crest.labeled_additions()
    assert index.tolist() == [1] and labels.tolist() == [1] and int(crest.generation) == 1 and len(calls) == 1
    crest.trainer.global_step = 40
    crest.on_interval_end()  # still generation 1: no relabelling
    assert len(calls) == 1
    crest.trainer.global_step = 100
    crest.on_interval_end()  # the end of training lies in the last generation (3), which ends no generation
    assert int(crest.generation) == 3 and len(calls) == 2


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_step_is_finite_and_the_state_is_kept() -> None:
    crest = module(CReST, threshold=0.5)
    step = batch(labeled=[[1.0, 0.0], [0.0, 1.0]], targets=[0, 1], weak=[[3.0, 0.0], [0.0, 3.0]],
                 strong=[[[2.0, 0.5], [0.5, 2.0]]])
    loss = crest.training_step(step, 0)
    assert math.isfinite(loss.item())
    assert {"generation", "added_labels", "p_model"} <= set(crest.state_dict())
    assert crest.p_model.sum().item() == pytest.approx(1.0)
