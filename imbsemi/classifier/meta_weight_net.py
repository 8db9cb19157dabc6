"""Meta-Weight-Net (Shu et al., NeurIPS 2019; the class-imbalance code's recipe): an MLP V(l; theta),
1-100-1 with a sigmoid output, maps each training sample's loss l_i to its weight, and is meta-trained
every step on a class-balanced meta set by a one-step look-ahead of the classifier:

    w'(theta) = w - lr * grad_w sum_i v_i l_i(w),   v_i = V(l_i; theta) / sum_j V(l_j; theta)
    theta    <- theta - meta_lr * grad_theta CE(f(x_meta; w'(theta)), y_meta)

then the classifier takes its own step on sum_i v_i l_i with the updated V (no gradient through v). The
look-ahead is ``torch.func.functional_call`` of the same network with substituted parameters (no second
copy of the model code), with copies of the BatchNorm buffers so that it leaves the running statistics
alone; lr is the classifier's current learning rate (plain SGD, as the paper's look-ahead)."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from imbsemi.accel import full_precision
from imbsemi.classifier.module import ClassifierModule
from imbsemi.data.paired_loader import StepBatches


def lookahead_meta_loss(model: nn.Module, train_loss: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                        meta_images: torch.Tensor, meta_targets: torch.Tensor, lr: float) -> torch.Tensor:
    """CE on the meta batch of ``model`` after one SGD step of ``lr`` on ``train_loss(model(images))``,
    differentiable with respect to whatever ``train_loss`` depends on besides the logits (the sample
    weights): d/d eps_i of the result is -lr <grad_w CE_meta(w'), grad_w of eps_i's term at w>."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # BatchNorm statistics stay untouched
    loss = train_loss(functional_call(model, {**params, **buffers}, (images,)))
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    ahead = {name: p - lr * g for (name, p), g in zip(params.items(), grads)}
    return F.cross_entropy(functional_call(model, {**ahead, **buffers}, (meta_images,)).float(), meta_targets)


class MetaWeightNet(ClassifierModule):
    """ClassifierModule whose per-sample loss weights come from a meta-trained MLP (see the module docstring).

    Args:
        *args, **kwargs: ClassifierModule's.
        meta_batches: the class-balanced meta set, one batch per step (the validation split by default:
            the stage's choice; selecting the exported epoch on the same split is then optimistic).
        hidden: width of V's hidden layer (the paper: 100).
        meta_lr, meta_momentum, meta_weight_decay: V's SGD with Nesterov momentum (the class-imbalance
            code: 1e-5, 0.9, 5e-4).
        warmup_epochs: epochs of unweighted training before V weights the loss (the paper: 0).
    """

    uses_meta_set = True

    def __init__(self, *args: Any, meta_batches: StepBatches, hidden: int = 100, meta_lr: float = 1e-5,
                 meta_momentum: float = 0.9, meta_weight_decay: float = 5e-4, warmup_epochs: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta_batches, self.warmup_epochs = meta_batches, warmup_epochs
        self.weight_net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())
        self.meta_settings = {"lr": meta_lr, "momentum": meta_momentum, "weight_decay": meta_weight_decay,
                              "nesterov": True}
        self.meta_optimizer: torch.optim.SGD | None = None
        self._meta_state: dict | None = None  # a checkpoint's meta-optimizer state, until the optimizer exists

    def sample_weights(self, per_sample_loss: torch.Tensor) -> torch.Tensor:
        """V's weights of losses (N,), normalised to sum to N (so the loss's mean is sum v_i l_i / sum v_i)."""
        weights = self.weight_net(per_sample_loss.float().unsqueeze(1)).squeeze(1)
        total = weights.sum()
        return weights * len(weights) / total if total > 0 else weights

    def weighted_loss(self, logits: torch.Tensor, targets: torch.Tensor, extra_weight: torch.Tensor | None,
                      through_weights: bool) -> torch.Tensor:
        """The loss's reduction of its per-sample losses weighted by V (times ``extra_weight``), in fp32;
        differentiable with respect to V's parameters when ``through_weights``."""
        with full_precision(logits.device):
            per_sample = self.loss.per_sample(logits.float(), targets)
            with torch.set_grad_enabled(through_weights and torch.is_grad_enabled()):
                weights = self.sample_weights(per_sample.detach())
            return self.loss.reduce(per_sample, targets, weights if extra_weight is None else weights * extra_weight)

    def _meta_optimizer(self) -> torch.optim.SGD:
        if self.meta_optimizer is None:
            self.meta_optimizer = torch.optim.SGD(self.weight_net.parameters(), **self.meta_settings)
            if self._meta_state is not None:
                self.meta_optimizer.load_state_dict(self._meta_state)
        return self.meta_optimizer

    def meta_step(self, images: torch.Tensor, targets: torch.Tensor, extra_weight: torch.Tensor | None) -> None:
        """One update of V from the look-ahead's loss on this step's meta batch."""
        meta_images, meta_targets = self.meta_batches.batch(self.global_step, self.device)

        def weighted(logits: torch.Tensor) -> torch.Tensor:
            return self.weighted_loss(logits, targets, extra_weight, through_weights=True)

        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        meta_loss = lookahead_meta_loss(self.model, weighted, images, meta_images, meta_targets, lr)
        parameters = list(self.weight_net.parameters())
        grads = torch.autograd.grad(meta_loss, parameters)
        if self.trainer.world_size > 1:  # one V for all ranks: the mean of their meta-gradients
            for grad in grads:
                torch.distributed.all_reduce(grad)
                grad /= self.trainer.world_size
        optimizer = self._meta_optimizer()
        for parameter, grad in zip(parameters, grads):
            parameter.grad = grad
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self.log("train/meta_loss", meta_loss.detach())

    def training_loss(self, batch: tuple) -> torch.Tensor:
        images, targets, *extra = batch
        extra_weight = extra[0] if extra else None
        if self.current_epoch < self.warmup_epochs:
            return super().training_loss(batch)
        self.meta_step(images, targets, extra_weight)
        return self.weighted_loss(self.model(images), targets, extra_weight, through_weights=False)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["meta_optimizer"] = self._meta_optimizer().state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self._meta_state = checkpoint.get("meta_optimizer")
        self.meta_optimizer = None
