"""Save imbsemi model files; load backbones and classifiers with every tensor checked."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from imbsemi.errors import CheckpointError
from imbsemi.io import atomic_write
from imbsemi.layouts import IMBSEMI_FORMAT, LAYOUTS
from imbsemi.models import HEAD_KEYS, MODELS


def save_model(path: str | Path, model: nn.Module, *, kind: str, arch: str, arch_kwargs: dict[str, Any],
               classes: Sequence[str], mean: Sequence[float], std: Sequence[float],
               provenance: dict[str, Any]) -> None:
    """Write an imbsemi model file atomically. ``kind='backbone'`` drops the head (HEAD_KEYS)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
             if kind == "classifier" or k not in HEAD_KEYS}
    payload = {"format": IMBSEMI_FORMAT, "version": 1, "kind": kind, "arch": arch,
               "arch_kwargs": dict(arch_kwargs), "classes": list(classes),
               "normalization": {"mean": list(mean), "std": list(std)},
               "provenance": provenance, "state_dict": state}
    with atomic_write(path) as handle:
        torch.save(payload, handle)


def read_checkpoint(path: str | Path) -> Any:
    """torch.load on CPU (weights only), with a clear error for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: not a complete torch checkpoint "
                              f"(truncated or another format): {err}") from err


def state_dict_of(obj: Any, path: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(layout name, flat state_dict) of a loaded checkpoint object."""
    for name, (detect, convert) in LAYOUTS.items():
        if detect(obj):
            return name, convert(obj)
    keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"checkpoint {path}: unknown layout (top-level keys {keys}); "
                          f"known layouts: {', '.join(LAYOUTS)}")


def load_backbone(model: nn.Module, path: str | Path) -> str:
    """Load every non-head tensor of ``model`` from ``path``; any missing, unexpected or
    mis-shaped backbone tensor is an error. Returns e.g. ``loaded=186/188 (skipped: fc.weight, fc.bias)``."""
    layout, state = state_dict_of(read_checkpoint(path), path)
    target = model.state_dict()
    backbone = [k for k in target if k not in HEAD_KEYS]
    missing = [k for k in backbone if k not in state]
    unexpected = [k for k in state if k not in target and k not in HEAD_KEYS]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(target[k].shape)}"
                  for k in backbone if k in state and state[k].shape != target[k].shape]
    if missing or unexpected or mismatched:
        problems = [f"{label} ({len(keys)}): {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected),
                                        ("shape mismatch", mismatched)) if keys]
        raise CheckpointError(f"checkpoint {path} ({layout} layout) does not fit the backbone: "
                              + "; ".join(problems))
    model.load_state_dict({k: state[k] for k in backbone}, strict=False)
    skipped = [k for k in target if k in HEAD_KEYS]
    return f"loaded={len(backbone)}/{len(target)} (skipped: {', '.join(skipped)})"


def load_classifier(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a classifier from an imbsemi model file; returns (model in eval mode, metadata)."""
    obj = read_checkpoint(path)
    layout, state = state_dict_of(obj, path)
    if obj.get("kind") != "classifier":
        raise CheckpointError(f"checkpoint {path}: expected a classifier (kind: classifier), "
                              f"got kind {obj.get('kind')!r}")
    if obj["arch"] not in MODELS:
        raise CheckpointError(f"checkpoint {path}: arch {obj['arch']!r} is not one of {', '.join(MODELS)}")
    model = MODELS[obj["arch"]](**obj["arch_kwargs"])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path}: tensors do not fit {obj['arch']}: {err}") from err
    meta = {k: v for k, v in obj.items() if k != "state_dict"}
    return model.eval(), meta
