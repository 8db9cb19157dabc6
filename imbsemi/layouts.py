"""Checkpoint layouts: for each, ``detect(obj) -> bool`` and ``convert(obj) -> flat state_dict`` in
imbsemi's model key names (ResNet-32 ``conv1``, ``layer1.0.conv1``, ...; torchvision ResNet names;
head ``fc``). The layout is recognised from the key structure, never from the file name; converters
drop what is not part of the network (optimizer, MoCo's key encoder and queue, projection heads).

Layouts, tried in this order:
- ``imbsemi``: imbsemi's model files (``format: imbsemi``, flat ``state_dict``).
- ``lightning``: Lightning ``.ckpt`` (imbsemi, solo-learn): ``state_dict`` under ``model.`` or ``backbone.``.
- ``paper_moco``: the original's ``pretrain_moco.py``: ``[module.]encoder_q.*``, ``encoder_k.*``, ``queue``.
- ``classifier_balancing``: the original's ``imagenet_inat``: ``state_dict_best`` (or per-epoch
  ``state_dict``) = {``feat_model``, ``classifier``}, ``module.`` keys.
- ``paper_cifar``: the original's ``train.py``, ``train_semi.py``, ``pretrain_rot.py``: ``epoch``, ``arch``,
  ``state_dict`` with or without ``module.``, head ``fc`` or LDAM-DRW's ``linear``.
- ``lightly_sequential``: ``nn.Sequential(*resnet.children()[:-1])`` backbones: keys ``0.weight``, ``4.0.*``.
- ``flat``: torchvision and plain ``model.state_dict()`` files.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

IMBSEMI_FORMAT = "imbsemi"
Tensors = dict[str, torch.Tensor]
# torchvision ResNet children in order: conv1, bn1, relu, maxpool, layer1..4 (avgpool, fc cut off)
SEQUENTIAL_NAMES = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def _tensors(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> Tensors:
    """The tensors whose key starts with ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _unwrap(state: Mapping[str, torch.Tensor]) -> Tensors:
    """Drop DataParallel's ``module.`` when every key has it; name an LDAM-DRW ``linear`` head ``fc``."""
    if all(k.startswith("module.") for k in state):
        state = strip_prefix(state, "module.")
    return {("fc." + k[len("linear."):] if k.startswith("linear.") else k): v for k, v in state.items()}


def detect_imbsemi(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == IMBSEMI_FORMAT and isinstance(obj.get("state_dict"), dict)


def convert_imbsemi(obj: dict[str, Any]) -> Tensors:
    return dict(obj["state_dict"])


def detect_lightning(obj: Any) -> bool:
    return isinstance(obj, dict) and "pytorch-lightning_version" in obj and _tensors(obj.get("state_dict"))


def convert_lightning(obj: dict[str, Any]) -> Tensors:
    """The network under ``model.`` (a classifier) or ``backbone.`` (an SSL method's backbone)."""
    for prefix in ("model.", "backbone."):
        state = strip_prefix(obj["state_dict"], prefix)
        if "conv1.weight" in state:
            return state
    return {}


def detect_paper_moco(obj: Any) -> bool:
    return isinstance(obj, dict) and _tensors(obj.get("state_dict")) and any(
        k.startswith(("module.encoder_q.", "encoder_q.")) for k in obj["state_dict"])


def convert_paper_moco(obj: dict[str, Any]) -> Tensors:
    """The query encoder without its MLP projection head (``fc.0``, ``fc.2``); key encoder and queue dropped."""
    state = _unwrap(obj["state_dict"])
    return {k: v for k, v in strip_prefix(state, "encoder_q.").items() if not k.startswith("fc.")}


def _networks(obj: Any) -> Mapping[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    networks = obj.get("state_dict_best", obj.get("state_dict"))
    return networks if isinstance(networks, dict) and {"feat_model", "classifier"} <= set(networks) else None


def detect_classifier_balancing(obj: Any) -> bool:
    networks = _networks(obj)
    return networks is not None and _tensors(networks["feat_model"]) and _tensors(networks["classifier"])


def convert_classifier_balancing(obj: dict[str, Any]) -> Tensors:
    """Feature model and linear classifier (``fc``) merged into one torchvision-named ResNet."""
    networks = _networks(obj)
    return {**_unwrap(networks["feat_model"]), **_unwrap(networks["classifier"])}


def detect_paper_cifar(obj: Any) -> bool:
    return isinstance(obj, dict) and {"epoch", "arch"} <= set(obj) and _tensors(obj.get("state_dict"))


def convert_paper_cifar(obj: dict[str, Any]) -> Tensors:
    return _unwrap(obj["state_dict"])


def detect_lightly_sequential(obj: Any) -> bool:
    return _tensors(obj) and "0.weight" in obj and any(k.startswith("4.0.") for k in obj)


def convert_lightly_sequential(obj: Mapping[str, torch.Tensor]) -> Tensors:
    return {SEQUENTIAL_NAMES[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: v for k, v in obj.items()
            if k.split(".", 1)[0] in SEQUENTIAL_NAMES}


def detect_flat(obj: Any) -> bool:
    return _tensors(obj) and "conv1.weight" in _unwrap(obj)


def convert_flat(obj: Mapping[str, torch.Tensor]) -> Tensors:
    return _unwrap(obj)


# name -> (detect, convert), tried in this order (the first that detects wins)
LAYOUTS: dict[str, tuple[Callable[[Any], bool], Callable[[Any], Tensors]]] = {
    "imbsemi": (detect_imbsemi, convert_imbsemi),
    "lightning": (detect_lightning, convert_lightning),
    "paper_moco": (detect_paper_moco, convert_paper_moco),
    "classifier_balancing": (detect_classifier_balancing, convert_classifier_balancing),
    "paper_cifar": (detect_paper_cifar, convert_paper_cifar),
    "lightly_sequential": (detect_lightly_sequential, convert_lightly_sequential),
    "flat": (detect_flat, convert_flat),
}


def infer_arch(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]] | None:
    """(MODELS name, kwargs) of the network a converted state_dict fits, read from its keys and
    shapes: torchvision ResNet-18/50 or CIFAR ResNet-6n+2; with a head, its classes and type (Linear,
    or NormedLinear: ``use_norm``), else ``num_classes`` None (a backbone); None when the keys fit no
    known architecture."""
    if "conv1.weight" not in state:
        return None
    kwargs: dict[str, Any] = {"num_classes": None, "in_channels": int(state["conv1.weight"].shape[1]),
                              "use_norm": False}
    if "fc.weight" in state:
        head = state["fc.weight"]
        kwargs["use_norm"] = "fc.bias" not in state  # NormedLinear: weight (features, classes), no bias
        kwargs["num_classes"] = int(head.shape[1] if kwargs["use_norm"] else head.shape[0])
    if "layer4.0.conv1.weight" in state:
        return ("resnet50" if "layer4.0.conv3.weight" in state else "resnet18"), kwargs
    depth = 6 * len({k.split(".")[1] for k in state if k.startswith("layer1.")}) + 2
    return (f"resnet{depth}", kwargs) if depth in (20, 32, 44, 56, 110) else None
