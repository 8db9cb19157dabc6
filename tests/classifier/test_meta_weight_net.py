"""Meta-Weight-Net: the look-ahead meta-gradient on a hand-checkable case, V's normalised weights, and a
one-step update of V in the direction the meta set asks for."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.classifier.meta_weight_net import lookahead_meta_loss

LR = 0.5


def linear_model() -> nn.Linear:
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.2, -0.1], [0.1, 0.3]]))
    return model


def test_meta_gradient_up_weights_the_sample_that_agrees_with_the_meta_set() -> None:
    """Meta set: x = (1, 0) is class 0. Training sample 0 says the same; sample 1 is the same image labeled 1.
    d meta / d eps_i = -(lr / N) <grad CE_meta(w'), grad l_i(w)>: negative (up-weight) for the agreeing
    sample, positive for the contradicting one, and equal to that formula."""
    model = linear_model()
    images, targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 1])
    meta_images, meta_targets = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    eps = torch.ones(2, requires_grad=True)

    def weighted(logits: torch.Tensor) -> torch.Tensor:
        return (eps * F.cross_entropy(logits, targets, reduction="none")).mean()

    meta = lookahead_meta_loss(model, weighted, images, meta_images, meta_targets, LR)
    (gradient,) = torch.autograd.grad(meta, eps)
    assert gradient[0] < 0 < gradient[1]

    w = model.weight.detach().clone().requires_grad_(True)
    per_sample = [torch.autograd.grad(F.cross_entropy(images[i:i + 1] @ w.T, targets[i:i + 1]), w)[0] for i in (0, 1)]
    ahead = (w - LR * (per_sample[0] + per_sample[1]) / 2).detach().requires_grad_(True)
    meta_grad = torch.autograd.grad(F.cross_entropy(meta_images @ ahead.T, meta_targets), ahead)[0]
    expected = torch.stack([-(LR / 2) * (meta_grad * g).sum() for g in per_sample])
    assert torch.allclose(gradient, expected, atol=1e-6)


def test_lookahead_leaves_the_parameters_and_batchnorm_statistics_alone() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    images, targets = torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 2
    loss = lookahead_meta_loss(model, lambda logits: F.cross_entropy(logits, targets), images, images[:4],
                               targets[:4], LR)
    assert torch.isfinite(loss)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_weights_are_normalised_to_the_batch_size() -> None:
    from imbsemi.classifier.meta_weight_net import MetaWeightNet
    from imbsemi.config import OptimConfig
    from imbsemi.losses import LOSSES

    module = MetaWeightNet(linear_model(), LOSSES["ce"]([5, 5]), OptimConfig(), 1, [5, 5], meta_batches=None)
    weights = module.sample_weights(torch.tensor([0.1, 1.0, 3.0]))
    raw = module.weight_net(torch.tensor([[0.1], [1.0], [3.0]])).squeeze(1)
    assert weights.sum().item() == pytest.approx(3.0) and torch.allclose(weights, 3 * raw / raw.sum())
