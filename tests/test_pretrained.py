"""Every registry entry's file exists, has its sha256 and loads into the matching backbone."""
from __future__ import annotations

import pytest
import yaml

from imbsemi.checkpoints import load_backbone, read_checkpoint
from imbsemi.io import sha256_file
from imbsemi.models import MODELS

from conftest import ROOT

REGISTRY = yaml.safe_load((ROOT / "pretrained" / "registry.yaml").read_text())["checkpoints"]


@pytest.mark.parametrize("entry", [e for e in REGISTRY if e["file"]], ids=lambda e: e["name"])
def test_local_checkpoint_matches_registry_and_loads(entry: dict) -> None:
    path = ROOT / "pretrained" / entry["file"]
    assert sha256_file(path) == entry["sha256"]
    payload = read_checkpoint(path)
    assert payload["arch"] == entry["arch"] and payload["provenance"]["method"] == "rotation"
    assert payload["provenance"]["selected_by"] == "val/rot_acc"
    assert payload["provenance"]["score"] == pytest.approx(entry["metric"]["val_rot_acc"], abs=5e-4)
    model = MODELS[entry["arch"]](10, **payload["arch_kwargs"])
    assert load_backbone(model, path) == "loaded=186/188 (skipped: fc.weight, fc.bias)"
