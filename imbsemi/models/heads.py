"""tau-normalisation of a trained classifier head (decoupled training, Kang et al., ICLR 2020)."""
from __future__ import annotations

import torch
from torch import nn

from imbsemi.errors import ConfigError


@torch.no_grad()
def tau_normalize(model: nn.Module, tau: float) -> None:
    """w_i <- w_i / ||w_i||^tau for each class row of a Linear head; the bias is dropped (set to 0)."""
    head = model.fc
    if not isinstance(head, nn.Linear):
        raise ConfigError("mode: tau_norm needs a Linear head; the cosine (NormedLinear) head is already normalised")
    head.weight.div_(head.weight.norm(dim=1, keepdim=True).pow(tau))
    head.bias.zero_()
