"""Every registered loss gives the same value and the same SGD step under bf16 autocast as in fp32.

The trainer runs CUDA with ``bf16-mixed``; the CPU autocast used here has the same semantics for a
loss (bf16 matmuls, logits that come out of the model in bf16), so the check runs without a GPU.
bf16 keeps 8 mantissa bits: one rounding has relative error at most 2^-9 ~ 2e-3 (~4e-3 per ulp).
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from imbsemi.losses import LOSSES
from imbsemi.losses.base import ImbalancedLoss
from imbsemi.losses.weighting import effective_number_weights
from imbsemi.models.resnet_cifar import NormedLinear

COUNTS = [20, 5, 1]
N, D, C = 32, 16, 3
# Loss on fp32 logits vs the same loss under autocast, whose logits are bf16: each logit is an fp32
# sum of bf16-rounded inputs and weights, rounded to bf16 (about three roundings of <= 2e-3), and
# a cross-entropy moves by at most 2 * max_c |dz_c| (its logit gradient has l1 norm <= 2). 2e-2 is
# five ulps of bf16; the worst relative difference seen over 50 seeds was 1.3e-3 (LDAM).
LOSS_RTOL = 2e-2
# SGD step under autocast vs fp32: the weight gradient g^T x of a linear head is computed from
# bf16-rounded operands (g is rounded on its way back through the bf16 logits), so the update has
# a few bf16 roundings of relative error; measured norm-wise <= 8.8e-3 over 50 seeds (LDAM through
# the normalisations of NormedLinear), so 3e-2 leaves a margin of three.
STEP_RTOL = 3e-2


def make_case(name: str, soft: bool) -> tuple[nn.Module, ImbalancedLoss, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A tiny head (NormedLinear for LDAM, as the trainer builds it; else Linear), a loss with
    class-balanced weights, inputs (N, D), a hard (N,) or soft (N, C) target and sample weights (N,)."""
    torch.manual_seed(0)
    cls = LOSSES[name]
    model = NormedLinear(D, C) if getattr(cls, "requires_normed_head", False) else nn.Linear(D, C)
    loss = cls(COUNTS)
    loss.set_class_weight(torch.as_tensor(effective_number_weights(COUNTS, 0.9), dtype=torch.float32))
    inputs = torch.randn(N, D)
    target = torch.softmax(2 * torch.randn(N, C), 1) if soft else torch.randint(0, C, (N,))
    return model, loss, inputs, target, torch.rand(N)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_under_autocast_equals_the_fp32_loss(name: str, soft: bool) -> None:
    model, loss, inputs, target, samples = make_case(name, soft)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(inputs)
        mixed = loss(logits, target, samples)
    full = loss(model(inputs), target, samples)
    if isinstance(model, NormedLinear):  # the cosine head itself runs in fp32: nothing is rounded
        assert logits.dtype == torch.float32 and torch.equal(mixed, full)
        return
    assert logits.dtype == torch.bfloat16 and mixed.dtype == torch.float32  # the case under test
    # Same bf16 logits outside autocast: the loss runs the same fp32 ops, so bit for bit equal.
    assert torch.equal(mixed, loss(logits.float(), target, samples))
    assert torch.allclose(mixed, full, rtol=LOSS_RTOL, atol=0)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_sgd_step_under_autocast_matches_the_fp32_step(name: str, soft: bool) -> None:
    model, loss, inputs, target, samples = make_case(name, soft)
    stepped = {}
    for mixed in (False, True):
        copy_ = copy.deepcopy(model)
        optimizer = torch.optim.SGD(copy_.parameters(), lr=0.1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed):
            value = loss(copy_(inputs), target, samples)
        value.backward()
        optimizer.step()
        stepped[mixed] = list(copy_.parameters())
    for before, fp32, bf16 in zip(model.parameters(), stepped[False], stepped[True]):
        assert bf16.dtype == torch.float32  # autocast keeps fp32 master weights
        update = (fp32 - before).norm()
        assert update > 0
        assert (bf16 - fp32).norm() <= STEP_RTOL * update  # = norm of the difference of the updates
