"""Backbone loading: every backbone tensor matched by name and shape, or a CheckpointError."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from imbsemi.checkpoints import load_backbone, load_classifier, save_model
from imbsemi.errors import CheckpointError
from imbsemi.models import HEAD_KEYS, MODELS


def _save(path: Path, model: torch.nn.Module, kind: str = "backbone", **arch_kwargs) -> None:
    save_model(path, model, kind=kind, arch="resnet32", arch_kwargs=arch_kwargs, classes=list("abcd"),
               mean=[0.5], std=[0.5], provenance={})


def test_backbone_round_trip_is_bit_exact_and_complete(tmp_path: Path) -> None:
    rotation = MODELS["resnet32"](4, in_channels=1)
    _save(tmp_path / "b.pt", rotation, in_channels=1)
    classifier = MODELS["resnet32"](10, in_channels=1)
    head_before = classifier.fc.weight.clone()
    report = load_backbone(classifier, tmp_path / "b.pt")
    assert report == "imbsemi layout: backbone 186/186 tensors loaded; head dropped (not in the checkpoint)"
    source, target = rotation.state_dict(), classifier.state_dict()
    for key in target:
        if key not in HEAD_KEYS:
            assert torch.equal(source[key], target[key]), key
    assert torch.equal(classifier.fc.weight, head_before)


def test_partial_backbone_is_an_error_listing_the_keys(tmp_path: Path) -> None:
    model = MODELS["resnet32"](4, in_channels=1)
    _save(tmp_path / "b.pt", model, in_channels=1)
    payload = torch.load(tmp_path / "b.pt", weights_only=True)
    del payload["state_dict"]["layer2.1.conv1.weight"]
    torch.save(payload, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"missing \(1\): layer2.1.conv1.weight"):
        load_backbone(MODELS["resnet32"](10, in_channels=1), tmp_path / "partial.pt")


def test_other_architecture_is_a_shape_and_key_error(tmp_path: Path) -> None:
    _save(tmp_path / "rgb.pt", MODELS["resnet32"](4, in_channels=3))
    with pytest.raises(CheckpointError, match=r"shape mismatch \(1\): conv1.weight \(16, 3, 3, 3\) vs \(16, 1, 3, 3\)"):
        load_backbone(MODELS["resnet32"](10, in_channels=1), tmp_path / "rgb.pt")
    _save(tmp_path / "r20.pt", MODELS["resnet20"](4))  # 2 blocks x 3 stages x 12 keys fewer
    with pytest.raises(CheckpointError, match=r"missing \(72\)"):
        load_backbone(MODELS["resnet32"](10), tmp_path / "r20.pt")


def test_truncated_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    _save(tmp_path / "b.pt", MODELS["resnet20"](4))
    data = (tmp_path / "b.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: not a complete torch checkpoint"):
        load_backbone(MODELS["resnet20"](10), tmp_path / "cut.pt")
    torch.save({"weights": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match=r"foreign.pt: unknown layout \(top-level keys \['weights'\]\)"):
        load_backbone(MODELS["resnet20"](10), tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="missing.pt does not exist"):
        load_backbone(MODELS["resnet20"](10), tmp_path / "missing.pt")


def test_classifier_round_trip_is_bit_exact(tmp_path: Path) -> None:
    model = MODELS["resnet32"](4, in_channels=1)
    _save(tmp_path / "m.pt", model, kind="classifier", num_classes=4, in_channels=1)
    loaded, meta = load_classifier(tmp_path / "m.pt")
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(loaded(x), model.eval()(x))
    assert meta["classes"] == list("abcd") and meta["normalization"] == {"mean": [0.5], "std": [0.5]}
    with pytest.raises(CheckpointError, match="expected a classifier"):
        _save(tmp_path / "b.pt", model)
        load_classifier(tmp_path / "b.pt")


def test_numpy_scalars_load_and_other_objects_are_named(tmp_path: Path) -> None:
    from imbsemi.checkpoints import read_checkpoint
    torch.save({"epoch": 90, "best_acc": np.float64(0.456), "step": np.int64(3)}, tmp_path / "np.pth")
    assert read_checkpoint(tmp_path / "np.pth")["best_acc"] == 0.456
    torch.save({"config": Path("x")}, tmp_path / "object.pth")
    with pytest.raises(CheckpointError, match=r"object.pth: it holds an object of type pathlib.PosixPath"):
        read_checkpoint(tmp_path / "object.pth")
