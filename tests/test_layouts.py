"""Checkpoint layouts of the original's releases and of other libraries: files built from imbsemi's own
networks renamed to each layout's exact keys, nesting and wrappers (both torch serializations, storages
tagged cuda as saved on a GPU); every backbone tensor must arrive with the same value."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable
from unittest import mock

import pytest
import torch
import torchvision
from torch import nn

from imbsemi.checkpoints import convert_checkpoint, load_backbone, load_classifier, read_checkpoint
from imbsemi.errors import CheckpointError
from imbsemi.models import HEAD_KEYS, MODELS


def save(path: Path, obj: Any, legacy: bool = False) -> Path:
    """torch.save as on a GPU: every storage tagged cuda:0."""
    with mock.patch("torch.serialization.location_tag", lambda storage: "cuda:0"):
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def sgd_state(model: nn.Module) -> dict:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    return optimizer.state_dict()


def prefixed(state: dict, prefix: str) -> dict:
    return {prefix + k: v for k, v in state.items()}


def assert_backbone_equal(model: nn.Module, source: dict[str, torch.Tensor]) -> None:
    target = model.state_dict()
    for key, value in target.items():
        if key not in HEAD_KEYS:
            assert torch.equal(value, source[key]), key


def rotation(module_prefix: bool) -> tuple[dict, dict]:
    """pretrain_rot.py: ResNet-32 with a 4-way head, DataParallel's module. by default, best_acc1 a float."""
    net = MODELS["resnet32"](4)
    state = net.state_dict()
    obj = {"epoch": 200, "arch": "resnet32", "best_acc1": 83.75, "optimizer": sgd_state(net),
           "state_dict": prefixed(state, "module." if module_prefix else "")}
    return obj, state


def final(head: str = "fc", use_norm: bool = False, classes: int = 10) -> tuple[dict, dict]:
    """train.py / train_semi.py: no prefix, best_acc1 a 0-d tensor; LDAM-DRW names the head linear."""
    net = MODELS["resnet32"](classes, use_norm=use_norm)
    state = net.state_dict()
    saved = {(head + k[2:] if k.startswith("fc.") else k): v for k, v in state.items()}
    return {"epoch": 200, "arch": "resnet32", "state_dict": saved, "best_acc1": torch.tensor(73.2),
            "optimizer": sgd_state(net)}, state


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("module_prefix", [True, False], ids=["module", "plain"])
def test_paper_rotation_checkpoints_load_every_backbone_tensor(tmp_path: Path, legacy: bool,
                                                               module_prefix: bool) -> None:
    obj, state = rotation(module_prefix)
    path = save(tmp_path / "ckpt.best.pth.tar", obj, legacy)
    model = MODELS["resnet32"](10)
    report = load_backbone(model, path)
    assert report == ("paper_cifar layout: backbone 186/186 tensors loaded; head dropped (fc.weight (4, 64) vs "
                      "(10, 64); fc.bias (4,) vs (10,))")
    assert_backbone_equal(model, state)


@pytest.mark.parametrize("head, use_norm", [("fc", False), ("linear", False), ("fc", True)],
                         ids=["ce", "ldam-drw-linear", "ldam-normed"])
def test_paper_final_models_load_as_classifiers(tmp_path: Path, head: str, use_norm: bool) -> None:
    obj, state = final(head, use_norm)
    path = save(tmp_path / "ckpt.pth.tar", obj, legacy=True)
    model, meta = load_classifier(path)
    assert (meta["arch"], meta["arch_kwargs"], meta["layout"]) == (
        "resnet32", {"num_classes": 10, "in_channels": 3, "use_norm": use_norm}, "paper_cifar")
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    fresh = MODELS["resnet32"](10, use_norm=use_norm)
    kept = "fc.weight" if use_norm else "fc.weight, fc.bias"
    assert load_backbone(fresh, path).endswith(f"head kept ({kept})")
    assert torch.equal(fresh.fc.weight, state["fc.weight"])


def test_paper_moco_takes_the_query_encoder_without_its_mlp(tmp_path: Path) -> None:
    net = MODELS["resnet50"](1000)
    encoder = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    mlp = {"fc.0.weight": torch.randn(2048, 2048), "fc.0.bias": torch.randn(2048),
           "fc.2.weight": torch.randn(128, 2048), "fc.2.bias": torch.randn(128)}
    query = prefixed({**encoder, **mlp}, "module.encoder_q.")
    key = {k.replace("encoder_q", "encoder_k"): torch.zeros_like(v) for k, v in query.items()}
    path = save(tmp_path / "moco_ckpt_0200.pth.tar", {
        "epoch": 200, "arch": "resnet50", "optimizer": {"state": {}, "param_groups": []},
        "state_dict": {**query, **key, "module.queue": torch.randn(128, 65536), "module.queue_ptr": torch.zeros(1)}})
    model = MODELS["resnet50"](1000)
    assert load_backbone(model, path) == ("paper_moco layout: backbone 318/318 tensors loaded; head dropped (not in "
                                          "the checkpoint)")
    assert_backbone_equal(model, encoder)
    info = convert_checkpoint(path, tmp_path / "backbone.pt")
    path.unlink()  # 258 MB
    converted = read_checkpoint(tmp_path / "backbone.pt")
    assert (info["arch"], converted["kind"], converted["arch_kwargs"]) == ("resnet50", "backbone",
                                                                         {"in_channels": 3, "use_norm": False})
    assert converted["state_dict"].keys() == encoder.keys()
    assert all(torch.equal(converted["state_dict"][k], v) for k, v in encoder.items())


@pytest.mark.parametrize("wrapper", ["state_dict_best", "state_dict"], ids=["final", "per-epoch"])
def test_classifier_balancing_merges_features_and_classifier(tmp_path: Path, wrapper: str) -> None:
    net = MODELS["resnet50"](1000)
    state = net.state_dict()
    networks = {"feat_model": prefixed({k: v for k, v in state.items() if not k.startswith("fc.")}, "module."),
                "classifier": prefixed({k: v for k, v in state.items() if k.startswith("fc.")}, "module.")}
    extra = {"best_epoch": 88, "best_acc": 0.456, "centroids": None} if wrapper == "state_dict_best" else {}
    path = save(tmp_path / "final_model_checkpoint.pth", {"epoch": 90, wrapper: networks, **extra})
    model, meta = load_classifier(path)
    assert (meta["arch"], meta["arch_kwargs"]["num_classes"], meta["layout"]) == ("resnet50", 1000,
                                                                                  "classifier_balancing")
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_torchvision_and_lightly_backbones(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18()
    state = reference.state_dict()
    flat = save(tmp_path / "resnet18.pth", state)
    model = MODELS["resnet18"](1000)
    assert load_backbone(model, flat) == "flat layout: backbone 120/120 tensors loaded; head kept (fc.weight, fc.bias)"
    assert_backbone_equal(model, state)
    sequential = nn.Sequential(*list(reference.children())[:-1])  # lightly's examples cut the head off so
    path = save(tmp_path / "lightly.pth", sequential.state_dict())
    model = MODELS["resnet18"](10)
    assert load_backbone(model, path).startswith("lightly_sequential layout: backbone 120/120 tensors loaded")
    assert_backbone_equal(model, state)


def test_lightning_checkpoints_of_a_classifier_and_an_ssl_backbone(fast_config) -> None:
    from imbsemi.config import FinetuneConfig, SSPConfig
    from imbsemi.stages import run_finetune, run_ssp
    classifier = run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "selection=last"))
    model, meta = load_classifier(classifier.folder / "checkpoints" / "last.ckpt")
    assert meta["layout"] == "lightning" and meta["arch_kwargs"] == {"num_classes": 10, "in_channels": 1,
                                                                     "use_norm": False}
    exported = read_checkpoint(classifier.paths["model_last"])["state_dict"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, exported[key]), key
    ssp = run_ssp(fast_config(SSPConfig, "ssp/moco_v2_digits.yaml"))
    backbone = MODELS["resnet32"](10, in_channels=1)
    report = load_backbone(backbone, ssp.folder / "checkpoints" / "last.ckpt")
    assert report == "lightning layout: backbone 186/186 tensors loaded; head dropped (not in the checkpoint)"
    assert_backbone_equal(backbone, read_checkpoint(ssp.paths["backbone"])["state_dict"])


@pytest.mark.parametrize("make, message", [
    (lambda: final(classes=10)[0] | {"state_dict": MODELS["resnet20"](10).state_dict()}, r"missing \(72\)"),
    (lambda: {"epoch": 1, "arch": "x", "state_dict": {"module.conv1.weight": torch.zeros(16, 3, 3, 3)}},
     r"missing \(185\)"),
])
def test_another_architecture_is_an_error_naming_the_tensors(tmp_path: Path, make: Callable, message: str) -> None:
    path = save(tmp_path / "other.pth.tar", make())
    with pytest.raises(CheckpointError, match=r"\(paper_cifar layout\) does not fit the backbone: " + message):
        load_backbone(MODELS["resnet32"](10), path)
