"""ACR's logit adjustment, anchor divergences and adaptive tau, estimate and one step's loss, on hand-computed
cases (labeled counts (4, 2, 1): prior pi = (4/7, 2/7, 1/7))."""
from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from imbsemi.errors import ConfigError
from imbsemi.registry import build
from imbsemi.semi import SEMI_METHODS
from imbsemi.semi.acr import ACR
from semi_helpers import Tiny, batch, module

LOG_FILTER = "ignore:You are trying to `self.log\\(\\)`"


def ce(logits: list[float], label: int) -> float:
    return -logits[label] + math.log(sum(math.exp(v) for v in logits))


def acr(kwargs: dict[str, float] | None = None, **settings: object) -> ACR:
    """ACR(**kwargs) on Tiny (fc rows (2, 0), (0, 2), (1, 1)); the balanced head's rows (1, 0), (0, 1), (0, 0)."""
    method = module(partial(ACR, **(kwargs or {})), **settings)
    with torch.no_grad():
        method.net["balanced"].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        method.net["balanced"].bias.zero_()
    return method


def test_adjustment_is_tau_times_log_prior() -> None:
    method = acr()
    # log(pi^2 + 1e-12) = 2 log(4/7, 2/7, 1/7) = (-1.1192, -2.5055, -3.8918); tau = 1: half of it
    assert method.adjustment(2.0).tolist() == pytest.approx([-1.1192316, -2.5055259, -3.8918203], abs=1e-6)
    assert method.adjustment(1.0).tolist() == pytest.approx([-0.5596158, -1.2527630, -1.9459101], abs=1e-6)


def test_anchors_reverse_the_frequency_ranks() -> None:
    anchors = module(ACR, counts=(2, 4, 1)).anchors()
    # prior (2/7, 4/7, 1/7): the most frequent class 1 gets the smallest prior 1/7, class 2 the largest
    torch.testing.assert_close(anchors, torch.tensor([[2 / 7, 4 / 7, 1 / 7], [1 / 3] * 3, [2 / 7, 1 / 7, 4 / 7]]))


@pytest.mark.parametrize("estimate, divergences, tau", [
    # u = reversed prior r: d_con = (1/2) sum (r - pi) log(r / pi) = (1/2) (3/7 log 4 + 3/7 log 4) = 0.59413;
    # d_uni = (1/2) sum (r - 1/3) log(3 r) = (1/2)(4/21 log(7/3) + 1/21 log(7/6) + 5/21 log(12/7)) = 0.14853;
    # d_rev = 0 (the reversed anchor is picked): tau = 2 e^0.59413 / (e^0.59413 + e^0.14853 + 1) = 0.91221
    ([1 / 7, 2 / 7, 4 / 7], [0.5941262, 0.1485315, 0.0], 0.9122056),
    # u = pi: the consistent anchor (d_con = 0) is picked, tau = 2 / (1 + e^0.14853 + e^0.59413) = 0.50358
    ([4 / 7, 2 / 7, 1 / 7], [0.0, 0.1485315, 0.5941262], 0.5035783),
    # u uniform: d_con = d_rev = 0.14853, tau = 2 e^0.14853 / (2 e^0.14853 + 1) = 0.69882
    ([1 / 3] * 3, [0.1485315, 0.0, 0.1485315], 0.6988187),
])
def test_anchor_divergences_set_the_adaptive_tau(estimate: list[float], divergences: list[float], tau: float) -> None:
    method = acr(eval_every=10)
    got = method.anchor_divergences(torch.tensor(estimate))
    assert got.tolist() == pytest.approx(divergences, abs=1e-6)
    assert got.argmin().item() == divergences.index(0.0)
    method.divergence_sums.copy_(10 * got)  # an interval of 10 steps, each with these divergences
    method.on_interval_end()  # global step 0 without a trainer: interval 0, not past est_epoch = 5
    assert method.tau.item() == 2.0 and method.divergence_sums.tolist() == [0.0, 0.0, 0.0]
    method = acr({"est_epoch": -1}, eval_every=10)
    method.divergence_sums.copy_(10 * got)
    method.on_interval_end()
    assert method.tau.item() == pytest.approx(tau, rel=1e-5)
    assert method.divergence_sums.tolist() == [0.0, 0.0, 0.0]


def test_estimate_counts_every_confident_pseudo_label() -> None:
    method = acr()
    method.update_estimate(torch.tensor([0, 0, 1, 2]), torch.tensor([1.0, 1.0, 1.0, 0.0]))
    # n = (2, 1, 0) / 3; u = 0.99 (1/3, 1/3, 1/3) + 0.01 n = (0.33667, 0.33333, 0.33)
    expected = torch.tensor([0.99 / 3 + 0.01 * 2 / 3, 0.99 / 3 + 0.01 / 3, 0.99 / 3])
    torch.testing.assert_close(method.estimate, expected)
    torch.testing.assert_close(method.divergence_sums, method.anchor_divergences(expected))
    method.update_estimate(torch.tensor([1]), torch.tensor([0.0]))  # nothing confident: nothing changes
    torch.testing.assert_close(method.estimate, expected)
    torch.testing.assert_close(method.divergence_sums, method.anchor_divergences(expected))


def step_batch():  # noqa: ANN201
    return batch(labeled=[[1.0, 0.0]], targets=[1], weak=[[2.5, 0.5], [0.2, 0.1], [-3.0, -4.0]],
                 strong=[[[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 0.0], [0.5, 0.0]]])


@pytest.mark.filterwarnings(LOG_FILTER)
def test_loss_of_one_step_is_the_sum_of_both_branches() -> None:
    method = acr({"tau1": 2.0, "tau12": 1.0, "tau2": 1.0}, threshold=0.8, lambda_u=0.5)  # tau = tau1 at first
    loss = method.training_step(step_batch(), 0)
    # labeled x = (1, 0), y = 1: s = (2, 0, 1); b + log pi = (1, 0, 0) + log pi: softmax ~ (4e, 2, 1),
    # CE = log((4e + 3) / 2) = 1.93681
    labeled = ce([2.0, 0.0, 1.0], 1) + math.log((4 * math.e + 3) / 2)
    # weak 1: s = (5, 1, 3); softmax 1 / (1 + e^-2 + e^-4) = 0.867 >= 0.8: kept, though the adjusted
    # softmax(s - 2 log pi) ~ e^s (1, 4, 16) ~ (e^2, 4 e^-2, 16) gives 0.669, for class 2: label 2.
    # Weak 2: s = (0.4, 0.2, 0.3): 0.367 and adjusted 0.772: dropped. Weak 3: s = (-6, -8, -7) ~ (1, e^-2, e^-1):
    # 0.665, adjusted (1, 4 e^-2, 16 e^-1) 0.792: dropped.
    # Strong views of image 1: s = (1, 1, 1) and (2, 0, 1), label 2; mean over 3 images, then 2 views
    standard = (ce([1.0, 1.0, 1.0], 2) / 3 + ce([2.0, 0.0, 1.0], 2) / 3) / 2
    # balanced: labels from softmax(s - log pi) ~ e^s (1, 2, 4): image 1 (e^2, 2 e^-2, 4) -> 0.634, class 0,
    # kept as b = (2.5, 0.5, 0) gives e^2.5 / (e^2.5 + e^0.5 + 1) = 0.822; image 2: 0.578 and b = (0.2, 0.1, 0)
    # gives 0.367: dropped; image 3: (1, 2 e^-2, 4 e^-1) -> 0.538, class 2, kept as b = (-3, -4, 0) gives
    # 1 / (1 + e^-3 + e^-4) = 0.936. Strong b: image 1 (0.5, 0.5, 0), (1, 0, 0); image 3 (1, 0, 0), (0.5, 0, 0)
    balanced = ((ce([0.5, 0.5, 0.0], 0) + ce([1.0, 0.0, 0.0], 2)) / 3
                + (ce([1.0, 0.0, 0.0], 0) + ce([0.5, 0.0, 0.0], 2)) / 3) / 2
    assert loss.item() == pytest.approx(labeled + 0.5 * (standard + balanced), rel=1e-6)
    assert method.estimate.tolist() == pytest.approx([1 / 3] * 3) and method.divergence_sums.sum().item() == 0


@pytest.mark.filterwarnings(LOG_FILTER)
def test_a_step_past_est_epoch_updates_the_estimate() -> None:
    method = acr({"est_epoch": -1}, threshold=0.8)
    loss = method.training_step(step_batch(), 0)
    # balanced weak: b = (2.5, 0.5, 0): 0.822 and (-3, -4, 0): 0.936 counted (classes 0, 2); (0.2, 0.1, 0) not
    expected = torch.tensor([0.99 / 3 + 0.005, 0.99 / 3, 0.99 / 3 + 0.005])
    assert torch.isfinite(loss)
    torch.testing.assert_close(method.estimate, expected)
    torch.testing.assert_close(method.divergence_sums, method.anchor_divergences(expected))


@pytest.mark.filterwarnings(LOG_FILTER)
def test_training_step_is_finite_and_state_is_saved() -> None:
    method = build(SEMI_METHODS, "acr", {"tau1": 2.0, "ema_u": 0.9}, "method.name", model=Tiny(3),
                   settings=acr().settings, labeled_counts=[4, 2, 1], pool_size=4)
    assert method.strong_views == 2
    loss = method.training_step(step_batch(), 0)
    loss.backward()
    assert torch.isfinite(loss) and method.net["balanced"].weight.grad is not None
    state = method.state_dict()
    assert {"tau", "estimate", "divergence_sums", "net.balanced.weight", "ema.balanced.weight"} <= set(state)


def test_balanced_head_predicts_and_is_exported() -> None:
    method = acr()
    method.ema.load_state_dict(method.net.state_dict())
    images = torch.tensor([[1.0, 2.0], [3.0, -1.0]]).view(2, 2, 1, 1)
    # balanced rows (1, 0), (0, 1), (0, 0): logits = (x1, x2, 0) (fc's would be (2 x1, 2 x2, x1 + x2))
    expected = torch.tensor([[1.0, 2.0, 0.0], [3.0, -1.0, 0.0]])
    torch.testing.assert_close(method.eval_logits(method.ema, images), expected)
    network = method.export_network()
    torch.testing.assert_close(network(images), expected)
    assert network.fc.weight.shape == method.ema["model"].fc.weight.shape
    assert network.fc is not method.ema["balanced"] and network is not method.ema["model"]


def test_a_head_other_than_a_linear_is_refused() -> None:
    model = Tiny(3)
    model.fc = torch.nn.Linear(2, 3, bias=False)
    with pytest.raises(ConfigError, match="plain nn.Linear"):
        ACR(model, acr().settings, [4, 2, 1], 4)
