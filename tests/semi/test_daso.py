"""DASO: prototypes from the class queues, the distribution-aware blend, the semantic alignment loss."""
from __future__ import annotations

from functools import partial

import pytest
import torch

from imbsemi.semi.daso import DASO
from semi_helpers import batch, module


def daso_module(settings: dict | None = None, **kwargs: object) -> DASO:
    """DASO with hyper-parameters ``kwargs`` on Tiny (counts 4, 2, 1; fc rows (2, 0), (0, 2), (1, 1))."""
    return module(partial(DASO, **kwargs), **(settings or {}))


def push(daso: DASO, rows: list[list[float]], labels: list[int]) -> None:
    daso.enqueue(torch.tensor(rows), torch.tensor(labels))


def test_prototypes_are_the_means_of_the_last_queue_len_features_per_class() -> None:
    daso = daso_module(queue_len=2)
    push(daso, [[5.0, 2.0], [0.0, 2.0]], [0, 1])
    push(daso, [[1.0, 0.0], [3.0, 0.0]], [0, 0])
    # class 0 queue: (5, 2) then (1, 0), (3, 0): the first is pushed out, mean (2, 0); class 1: (0, 2);
    # class 2: empty, zero
    assert daso.prototypes().tolist() == [[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]
    push(daso, [[4.0, 4.0], [1.0, 1.0], [0.0, 4.0], [2.0, 8.0]], [0, 1, 1, 0])
    # class 0: (4, 4), (2, 8) replace both: mean (3, 6); class 1: (0, 2) out, (1, 1) and (0, 4): (0.5, 2.5)
    assert daso.prototypes().tolist() == [[3.0, 6.0], [0.5, 2.5], [0.0, 0.0]]
    push(daso, [[9.0, 9.0], [1.0, 0.0], [3.0, 2.0]], [2, 2, 2])
    # more than queue_len of a class in one batch: the last two, (1, 0) and (3, 2): mean (2, 1)
    assert daso.prototypes()[2].tolist() == [2.0, 1.0] and daso.queue_pushed.tolist() == [5, 3, 3]


def test_blended_pseudo_label_weights_the_semantic_one_by_the_pseudo_label_distribution() -> None:
    daso = daso_module(queue_len=1, proto_temp=0.5, dist_temp=1.5, warmup_steps=0)
    push(daso, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0, 1, 2])  # prototypes (1, 0), (0, 1), (1, 1)
    daso.pl_counts.copy_(torch.tensor([8.0, 1.0, 0.0]))  # weights (n / 8)^(1 / 1.5) = (1, 0.25, 0)
    out = daso.forward_step(batch(labeled=[[1.0, 0.0]], targets=[0], weak=[[3.0, 0.0], [0.0, 1.0]],
                                  strong=[[[0.0, 2.0], [1.0, 0.0]]]))
    targets = daso.pseudo_targets(out.logits_weak.softmax(1), out)
    # image 1: linear logits (6, 0, 3), class 0: w = 1, q = q^sem = softmax(cos = (1, 0, 0.7071) / 0.5)
    #   = softmax(2, 0, 1.4142) = (0.5910, 0.0800, 0.3290)
    # image 2: p = softmax(0, 2, 1) = (0.0900, 0.6652, 0.2447), class 1: w = 0.25; q^sem = softmax(0, 2, 1.4142)
    #   = (0.0800, 0.5910, 0.3290); q = 0.75 p + 0.25 q^sem = (0.0875, 0.6467, 0.2658)
    expected = torch.tensor([[0.59102, 0.07999, 0.32900], [0.08752, 0.64668, 0.26580]])
    torch.testing.assert_close(targets, expected, atol=1e-4, rtol=0)
    assert daso.pl_window.tolist() == [1.0, 1.0, 0.0]
    # alignment: strong logits cos((0, 2), c) / 0.5 = (0, 2, 1.4142) against q^sem_1 and (2, 0, 1.4142) against
    # q^sem_2: both -sum q^sem log softmax = 1.9007
    assert daso.extra_loss(out, targets, None).item() == pytest.approx(1.9007, abs=1e-4)


def test_no_blend_or_alignment_during_the_warm_up_and_fixed_alpha_without_dist_aware() -> None:
    daso = daso_module(queue_len=1, proto_temp=0.5, warmup_steps=1)
    push(daso, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0, 1, 2])
    out = daso.forward_step(batch(labeled=[[1.0, 0.0]], targets=[0], weak=[[0.0, 1.0]], strong=[[[0.0, 2.0]]]))
    probs = out.logits_weak.softmax(1)
    assert torch.equal(daso.pseudo_targets(probs, out), probs) and daso.extra_loss(out, probs, None) is None
    daso.warmup_steps, daso.dist_aware, daso.interp_alpha = 0, False, 0.5
    # 0.5 p + 0.5 q^sem = 0.5 (0.0900, 0.6652, 0.2447) + 0.5 (0.0800, 0.5910, 0.3290)
    torch.testing.assert_close(daso.pseudo_targets(probs, out), torch.tensor([[0.08501, 0.62812, 0.28686]]),
                               atol=1e-4, rtol=0)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_step_is_finite_and_the_queues_and_counts_are_in_the_state() -> None:
    daso = daso_module({"threshold": 0.5}, queue_len=4, warmup_steps=0, dist_every=1)
    step = batch(labeled=[[1.0, 0.0], [0.0, 1.0]], targets=[0, 1], weak=[[3.0, 0.0], [0.0, 3.0], [0.2, 0.1]],
                 strong=[[[2.0, 0.5], [0.5, 2.0], [0.1, 0.1]]])
    loss = daso.training_step(step, 0)
    loss.backward()
    assert torch.isfinite(loss) and daso.net["model"].fc.weight.grad is not None
    state = daso.state_dict()
    assert {"queue", "queue_pushed", "pl_window", "pl_counts"} <= set(state)
    # the EMA features of the labeled batch were queued; the window of 1 step rolled into the counts
    assert state["queue_pushed"].tolist() == [1, 1, 0] and state["queue"][0, 0].tolist() == [1.0, 0.0]
    assert state["pl_counts"].sum().item() == 3 and state["pl_window"].sum().item() == 0
