"""Checkpoint layouts: for each, ``detect(obj) -> bool`` and ``convert(obj) -> flat state_dict``
in imbsemi's model key names. The layout is recognised from the key structure, never the file name."""
from __future__ import annotations

from typing import Any, Callable

import torch

IMBSEMI_FORMAT = "imbsemi"


def detect_imbsemi(obj: Any) -> bool:
    """imbsemi's exported models: a dict with ``format: imbsemi`` and a flat ``state_dict``."""
    return isinstance(obj, dict) and obj.get("format") == IMBSEMI_FORMAT and isinstance(obj.get("state_dict"), dict)


def convert_imbsemi(obj: dict[str, Any]) -> dict[str, torch.Tensor]:
    return dict(obj["state_dict"])


LAYOUTS: dict[str, tuple[Callable[[Any], bool], Callable[[Any], dict[str, torch.Tensor]]]] = {
    "imbsemi": (detect_imbsemi, convert_imbsemi),
}
