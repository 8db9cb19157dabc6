"""The accelerator and its settings, decided in one place: which device a run uses, its precision,
memory layout and compilation. GPU settings are never model code."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, ContextManager, Mapping

import torch
from torch import nn

from imbsemi.errors import ConfigError

GPU_NAMES = ("gpu", "cuda")


def uses_cuda(trainer: Mapping[str, Any]) -> bool:
    """Whether a run with these ``trainer`` options runs on CUDA: asked for (``gpu``/``cuda``; an
    error without a GPU) or ``auto`` (the default) on a machine that has one."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in GPU_NAMES and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator = {accelerator!r}, but this machine has no CUDA GPU; "
                          "use trainer.accelerator=cpu or auto")
    return torch.cuda.is_available() and accelerator in (*GPU_NAMES, "auto")


def run_device(trainer: Mapping[str, Any]) -> torch.device:
    """The device of a run outside a Trainer (e.g. pseudo-labelling), by the same rule as training."""
    return torch.device("cuda" if uses_cuda(trainer) else "cpu")


def eval_batch_size(device: torch.device | str) -> int:
    """Images per evaluation batch on ``device``: 128 on a CPU, where a small network's activations then
    stay in cache (512 takes ~2x as long for ResNet-32 at 32x32 on 2 cores); 512 on a GPU."""
    return 128 if torch.device(device).type == "cpu" else 512


def trainer_defaults(trainer: Mapping[str, Any]) -> dict[str, Any]:
    """Trainer options implied by the device, overridden by any the user gives in ``trainer``: on
    CUDA bf16 autocast (BatchNorm stays fp32) and cudnn autotuning; on CPU fp32 with deterministic
    algorithms, so CPU runs are bit-reproducible. Progress bars only on a terminal."""
    # the training loaders shard themselves by rank (DeviceLoader, EpochSampler): Lightning must not
    # swap in a DistributedSampler
    options: dict[str, Any] = {"log_every_n_steps": 1, "enable_model_summary": False,
                               "enable_progress_bar": sys.stderr.isatty(), "use_distributed_sampler": False}
    if uses_cuda(trainer):
        options.update(precision="bf16-mixed", benchmark=True)
    else:
        options.update(precision="32-true", deterministic="warn")
    return {**options, **trainer}


def full_precision(device: torch.device) -> ContextManager[None]:
    """A context in which autocast is off on ``device``, so every op runs in the dtype of its inputs.

    Under bf16 autocast a matmul (e.g. ``target @ class_weight``) or a bf16 ``log_softmax`` would
    round to 8 mantissa bits; a loss is cheap, so it is computed in fp32 instead. Devices without
    autocast (``torch.autocast`` refuses them even when disabled) get a no-op context.
    """
    check = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4; older ones: cpu and cuda
    has_autocast = check(device.type) if check is not None else device.type in ("cpu", "cuda")
    return torch.autocast(device.type, enabled=False) if has_autocast else contextlib.nullcontext()


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
