"""GPU settings that are not model code: memory layout and compilation, applied on CUDA only."""
from __future__ import annotations

import torch
from torch import nn


def prepare_model(model: nn.Module, device: torch.device, compile_model: bool) -> None:
    """On CUDA: channels_last weights and, if asked, ``torch.compile`` of the forward in place (the
    state_dict keys stay the same). On CPU nothing changes, so the tests run the same code path."""
    if device.type != "cuda":
        return
    model.to(memory_format=torch.channels_last)
    if compile_model:
        model.compile()


def channels_last(batch: object) -> object:
    """4-d tensors (or tuples of them) in channels_last layout; anything else unchanged."""
    if isinstance(batch, tuple):
        return tuple(channels_last(part) for part in batch)
    if isinstance(batch, torch.Tensor) and batch.dim() == 4:
        return batch.contiguous(memory_format=torch.channels_last)
    return batch
