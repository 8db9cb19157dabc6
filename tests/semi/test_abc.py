"""ABC: Bernoulli keep probabilities, the masked auxiliary loss, the draws, prediction from the auxiliary head."""
from __future__ import annotations

import math
from functools import partial

import pytest
import torch
from torch import nn

from imbsemi.errors import ConfigError
from imbsemi.semi.abc import ABC
from semi_helpers import Tiny, batch, module


def ce(logits: list[float], label: int) -> float:
    return -logits[label] + math.log(sum(math.exp(v) for v in logits))


def abc_module(**kwargs: object) -> ABC:
    """ABC with hyper-parameters ``kwargs`` on Tiny (counts 4, 2, 1) whose auxiliary head has fc's weights:
    rows (2, 0), (0, 2), (1, 1)."""
    abc = module(partial(ABC, **kwargs))
    with torch.no_grad():
        abc.net["aux"].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
        abc.net["aux"].bias.zero_()
    return abc


def test_keep_probabilities_per_class_follow_the_schedule() -> None:
    abc = module(ABC, steps=100)  # labeled counts (4, 2, 1): r = 1 / (4, 2, 1) = (0.25, 0.5, 1)
    labeled, unlabeled = abc.keep_probabilities(0)
    assert labeled.tolist() == [0.25, 0.5, 1.0] and unlabeled.tolist() == [1.0, 1.0, 1.0]
    # half-way: 1 - 0.5 (1 - r) = (0.625, 0.75, 1); at the end: r
    assert abc.keep_probabilities(50)[1].tolist() == [0.625, 0.75, 1.0]
    assert abc.keep_probabilities(100)[1].tolist() == [0.25, 0.5, 1.0]


def test_masked_auxiliary_loss_with_the_draws_fixed() -> None:
    abc = abc_module(abc_p_cutoff=0.95, abc_loss_ratio=0.5)
    seen = []
    abc.draw = lambda probs: seen.append(probs) or torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0])
    step = batch(labeled=[[1.0, 0.0], [0.0, 1.0]], targets=[1, 2], weak=[[3.0, 0.0], [0.2, 0.1], [0.0, 3.0]],
                 strong=[[[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]])
    out = abc.forward_step(step)
    loss = abc.extra_loss(out, None, None)
    # keep probabilities at step 0: labeled r_y = (0.5, 1) for y = (1, 2); unlabeled all 1
    assert seen[0].tolist() == [0.5, 1.0, 1.0, 1.0, 1.0]
    # labeled aux logits (2, 0, 1) and (0, 2, 1), drawn (0, 1): (0 + CE((0, 2, 1), 2)) / 2
    labeled = ce([0.0, 2.0, 1.0], 2) / 2
    # weak aux logits (6, 0, 3): q_max = e^6 / (e^6 + 1 + e^3) = 0.9503 >= 0.95, label 0, drawn 1: kept;
    # (0.4, 0.2, 0.3): q_max = 0.37, drawn 1: dropped; (0, 6, 3): 0.9503, label 1, drawn 0: dropped.
    # strong aux logits (1, 1, 1), (0, 2, 1), (2, 0, 1): (CE((1, 1, 1), 0) + 0 + 0) / 3
    unlabeled = ce([1.0, 1.0, 1.0], 0) / 3
    assert loss.item() == pytest.approx(0.5 * (labeled + unlabeled), rel=1e-6)


def test_draws_are_seeded_by_the_step_not_the_global_generator() -> None:
    abc = module(ABC)
    probs = torch.full((20_000,), 0.25)
    first = abc.draw(probs)
    torch.manual_seed(123)
    assert torch.equal(abc.draw(probs), first)
    assert first.mean().item() == pytest.approx(0.25, abs=0.02)
    assert set(first.unique().tolist()) == {0.0, 1.0}


def test_evaluation_and_export_predict_from_the_ema_auxiliary_head() -> None:
    abc = abc_module()
    abc.ema.load_state_dict(abc.net.state_dict())
    with torch.no_grad():
        abc.ema["aux"].weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]]))
    x = torch.tensor([[3.0, 1.0]]).view(1, 2, 1, 1)
    # aux logits (1, 3, -3), fc logits (6, 2, 4)
    assert abc.eval_logits(abc.ema, x).tolist() == [[1.0, 3.0, -3.0]]
    exported = abc.export_network()
    assert exported(x).tolist() == [[1.0, 3.0, -3.0]] and abc.ema["model"](x).tolist() == [[6.0, 2.0, 4.0]]
    assert exported.fc is not abc.ema["aux"] and exported is not abc.ema["model"]


def test_a_head_that_cannot_take_the_auxiliary_head_is_refused() -> None:
    model = Tiny()
    model.fc = nn.Linear(2, 3, bias=False)
    with pytest.raises(ConfigError, match="nn.Linear"):
        ABC(model, module().settings, [4, 2, 1], 4)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_step_is_finite_and_the_auxiliary_head_is_in_the_state() -> None:
    torch.manual_seed(0)
    abc = module(ABC, threshold=0.5)
    step = batch(labeled=[[1.0, 0.0], [0.0, 1.0]], targets=[0, 1], weak=[[3.0, 0.0], [0.0, 3.0]],
                 strong=[[[2.0, 0.5], [0.5, 2.0]]])
    loss = abc.training_step(step, 0)
    loss.backward()
    assert torch.isfinite(loss) and abc.net["aux"].weight.grad is not None
    assert {"net.aux.weight", "ema.aux.weight", "ema.aux.bias"} <= set(abc.state_dict())
