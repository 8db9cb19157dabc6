"""Save imbsemi model files; load backbones and classifiers from a checkpoint of any layout, with every
tensor checked."""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from imbsemi.errors import CheckpointError
from imbsemi.io import save_torch, sha256_file
from imbsemi.layouts import IMBSEMI_FORMAT, LAYOUTS, infer_arch
from imbsemi.released import resolve_checkpoint
from imbsemi.models import HEAD_KEYS, MODELS

try:
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:  # numpy < 2
    from numpy.core.multiarray import scalar as _numpy_scalar

# numpy scalars in checkpoints of other code (e.g. a best accuracy as np.float64): safe to unpickle, under
# numpy 2's module name and under numpy 1's, which files written with numpy 1 name
NUMPY_SCALARS = [_numpy_scalar, (_numpy_scalar, "numpy.core.multiarray.scalar"), np.dtype,
                 *{type(np.dtype(t)) for t in ("float64", "float32", "int64")}]


def save_model(path: str | Path, model: nn.Module, *, kind: str, arch: str, arch_kwargs: dict[str, Any],
               classes: Sequence[str], mean: Sequence[float] | None, std: Sequence[float] | None,
               provenance: dict[str, Any]) -> None:
    """Write an imbsemi model file atomically. ``kind='backbone'`` drops the head (HEAD_KEYS); ``mean``
    and ``std`` None: the normalisation is unknown (a converted file), the data's is used."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
             if kind == "classifier" or k not in HEAD_KEYS}
    payload = {"format": IMBSEMI_FORMAT, "version": 1, "kind": kind, "arch": arch,
               "arch_kwargs": dict(arch_kwargs), "classes": list(classes),
               "normalization": None if mean is None else {"mean": list(mean), "std": list(std)},
               "provenance": provenance, "state_dict": state}
    save_torch(payload, path)


def read_checkpoint(path: str | Path) -> Any:
    """torch.load on CPU (weights only; files saved on a GPU or with the legacy serialization load too),
    with a clear error for a missing or unreadable file. ``path`` may be ``pretrained:NAME``."""
    path = resolve_checkpoint(path)
    try:
        with torch.serialization.safe_globals(NUMPY_SCALARS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        raise CheckpointError(f"cannot read checkpoint {path}: it holds an object of type "
                              f"{found.group(1) if found else '?'}; only tensors, numbers, strings and containers "
                              f"are loaded (unpickling other objects can run code)") from err
    except Exception as err:  # torch raises several types for truncated/foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: not a complete torch checkpoint "
                              f"(truncated or another format): {err}") from err


def state_dict_of(obj: Any, path: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(layout name, flat state_dict in imbsemi's key names) of a loaded checkpoint object."""
    for name, (detect, convert) in LAYOUTS.items():
        if detect(obj):
            return name, convert(obj)
    keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"checkpoint {path}: unknown layout (top-level keys {keys}); "
                          f"known layouts: {', '.join(LAYOUTS)}")


def load_backbone(model: nn.Module, path: str | Path, keep_head: bool = True) -> str:
    """Load ``path`` (any layout of ``imbsemi.layouts``) into ``model``: every backbone tensor, strictly (a
    missing, unexpected or mis-shaped one is an error listing them), and the head (``fc``) when
    ``keep_head`` and the checkpoint has it in the model's shapes. Returns the one-line report, e.g.
    ``paper_cifar layout: backbone 186/186 tensors loaded; head dropped (fc.weight (4, 64) vs (10, 64))``."""
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
    head, why = _head(state, target, keep_head)
    model.load_state_dict({k: state[k] for k in [*backbone, *head]}, strict=False)
    kept = f"head kept ({', '.join(head)})" if head else f"head dropped ({why})"
    return f"{layout} layout: backbone {len(backbone)}/{len(backbone)} tensors loaded; {kept}"


def _head(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], keep: bool) -> tuple[list[str], str]:
    """(head keys to load, why none are loaded)."""
    keys = [k for k in target if k in HEAD_KEYS]
    if not keep:
        return [], "a new head is trained"
    absent = [k for k in keys if k not in state]
    if absent:
        return [], "not in the checkpoint" if len(absent) == len(keys) else f"{', '.join(absent)} not in the checkpoint"
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(target[k].shape)}" for k in keys
             if state[k].shape != target[k].shape]
    if wrong or any(k in state for k in HEAD_KEYS if k not in keys):
        return [], "; ".join(wrong) or "another head type (Linear vs NormedLinear)"
    return keys, ""


def load_classifier(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a classifier from a checkpoint of any layout; returns (model in eval mode, metadata:
    ``arch``, ``arch_kwargs``, ``layout``, the one-line load ``report`` and, from imbsemi files,
    ``classes`` and ``normalization``, else None for those two). Other layouts' architecture is read
    from their keys and shapes; every tensor must fit (a strict load)."""
    obj = read_checkpoint(path)
    layout, state = state_dict_of(obj, path)
    if layout == "imbsemi":
        if obj.get("kind") != "classifier":
            raise CheckpointError(f"checkpoint {path}: expected a classifier (kind: classifier), "
                                  f"got kind {obj.get('kind')!r}")
        meta = {k: v for k, v in obj.items() if k != "state_dict"}
    else:
        found = infer_arch(state)
        if found is None or found[1]["num_classes"] is None:
            raise CheckpointError(f"checkpoint {path} ({layout} layout): not a classifier of a known architecture "
                                  f"(no fc head, or keys of none of {', '.join(MODELS)})")
        meta = {"arch": found[0], "arch_kwargs": found[1], "classes": None, "normalization": None}
    if meta["arch"] not in MODELS:
        raise CheckpointError(f"checkpoint {path}: arch {meta['arch']!r} is not one of {', '.join(MODELS)}")
    model = MODELS[meta["arch"]](**meta["arch_kwargs"])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} ({layout} layout): tensors do not fit {meta['arch']}: {err}") from err
    report = (f"{layout} layout: {meta['arch']} classifier, {len(state)}/{len(model.state_dict())} tensors loaded "
              f"(head: {meta['arch_kwargs']['num_classes']} classes)")
    return model.eval(), {**meta, "layout": layout, "report": report}


def inspect_checkpoint(path: str | Path) -> dict[str, Any]:
    """What a checkpoint holds: its layout, top-level keys, the tensors it converts to (count and
    parameters), the architecture they fit and the head's shape (None without a head)."""
    obj = read_checkpoint(path)
    layout, state = state_dict_of(obj, path)
    arch = infer_arch(state)
    return {"file": str(resolve_checkpoint(path)), "layout": layout,
            "top_level_keys": list(obj)[:12] if isinstance(obj, dict) else [],
            "tensors": len(state), "parameters": int(sum(v.numel() for v in state.values())),
            "arch": arch[0] if arch else None, "arch_kwargs": arch[1] if arch else None,
            "head": list(state["fc.weight"].shape) if "fc.weight" in state else None}


def convert_checkpoint(source: str | Path, target: str | Path) -> dict[str, Any]:
    """Write ``source`` (any layout) as an imbsemi model file with the same tensor values: a classifier
    when it has a head, else a backbone; classes numbered, normalisation unknown (the data's is used).
    Returns ``inspect_checkpoint``'s description.

    Raises:
        CheckpointError: the tensors fit no known architecture.
    """
    info = inspect_checkpoint(source)
    if info["arch"] is None:
        raise CheckpointError(f"checkpoint {source} ({info['layout']} layout): its tensors fit none of "
                              f"{', '.join(MODELS)}; cannot convert")
    kwargs = dict(info["arch_kwargs"])
    kind = "classifier" if kwargs["num_classes"] is not None else "backbone"
    model = MODELS[info["arch"]](**{**kwargs, "num_classes": kwargs["num_classes"] or 1})
    _, state = state_dict_of(read_checkpoint(source), source)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k not in HEAD_KEYS or kind == "classifier"]:
        raise CheckpointError(f"checkpoint {source}: tensors do not fit {info['arch']} (missing: {missing[:6]}, "
                              f"unexpected: {unexpected[:6]})")
    if kind == "backbone":
        del kwargs["num_classes"]
    classes = [str(c) for c in range(kwargs.get("num_classes") or 0)]
    save_model(target, model, kind=kind, arch=info["arch"], arch_kwargs=kwargs, classes=classes, mean=None, std=None,
               provenance={"converted_from": str(source), "layout": info["layout"],
                           "sha256": sha256_file(info["file"])})
    return info
