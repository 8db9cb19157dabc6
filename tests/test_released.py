"""The registry of released checkpoints, pretrained:NAME, downloads, conversion and evaluation."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from conftest import CONFIGS
from formats import write_cifar10
from imbsemi import released
from imbsemi.checkpoints import convert_checkpoint, load_backbone, read_checkpoint
from imbsemi.config import EvaluateConfig, FinetuneConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.errors import CheckpointError
from imbsemi.io import sha256_file
from imbsemi.models import MODELS
from imbsemi.stages import evaluate_knn, run_evaluate, run_finetune
from test_layouts import final, rotation, save

OURS = [e for e in released.registry() if e["source"] == "imbsemi"]


def test_registry_lists_the_papers_33_checkpoints_and_ours() -> None:
    paper = [e for e in released.registry() if e["source"] == "paper"]
    assert len(paper) == 33 and len({e["url"] for e in paper}) == 33
    assert {e["layout"] for e in paper} == {"paper_cifar", "paper_moco", "classifier_balancing"}
    assert sum(e["stage"] == "ssp" for e in paper) == 8  # 6 rotation (CIFAR-10/100 x 3 rho) + 2 MoCo
    assert {e["name"] for e in OURS} >= {"rotation_resnet32_digits_rho10", "moco_v2_resnet32_digits_rho10",
                                         "simclr_resnet32_digits_rho10", "ce_resnet32_digits_rho10",
                                         "ce_ssp_resnet32_digits_rho10", "ce_pseudo_resnet32_digits_rho10"}


# recorded on one machine; on another CPU (other kernels) a prediction at a near tie may flip: a point
# allows a few of the 500 test images
TIES = 0.01


@pytest.mark.parametrize("entry", OURS, ids=lambda e: e["name"])
def test_our_releases_reproduce_their_recorded_test_metric(entry: dict, tmp_path: Path) -> None:
    path = released.local_path(entry)
    assert sha256_file(path) == entry["sha256"] and path.stat().st_size < 5e6
    spec = f"pretrained:{entry['name']}"
    if entry["stage"] == "ssp":
        method = entry["name"].split("_resnet32")[0]
        knn = evaluate_knn(load_config(SSPConfig, CONFIGS / f"ssp/{method}_digits.yaml"), spec)
        assert knn == pytest.approx(entry["metric"]["test_knn_acc"], abs=TIES)
    else:
        test = run_evaluate(load_config(EvaluateConfig, CONFIGS / "digits_data.yaml",
                                        [f"checkpoint={spec}", f"out_dir={tmp_path}"])).metrics["test"]
        recorded = entry["metric"]
        assert test["balanced_acc"] == pytest.approx(recorded["test_balanced_acc"], abs=TIES)
        assert test["acc"] == pytest.approx(recorded["test_acc"], abs=TIES)


def test_finetune_starts_from_a_release_by_name(fast_config) -> None:
    metrics = run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml",
                                       "init=pretrained:rotation_resnet32_digits_rho10")).metrics
    assert metrics["init"]["report"] == ("imbsemi layout: backbone 186/186 tensors loaded; head dropped (not in the "
                                         "checkpoint)")


def test_a_release_not_downloaded_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMBSEMI_CACHE", str(tmp_path))
    with pytest.raises(CheckpointError, match="pretrained:paper-cifar10-lt-rho100-rotation is not downloaded: run "
                                              "`imbsemi pretrained fetch paper-cifar10-lt-rho100-rotation`"):
        read_checkpoint("pretrained:paper-cifar10-lt-rho100-rotation")
    with pytest.raises(CheckpointError, match="no such checkpoint in the registry; known: rotation_resnet32"):
        read_checkpoint("pretrained:rotation-cifar")


def test_fetch_checks_sha256_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = save(tmp_path / "ckpt.pth.tar", rotation(True)[0])
    registry = tmp_path / "lab.yaml"
    good = {"name": "lab-rotation", "file": None, "url": source.as_uri(), "sha256": sha256_file(source),
            "arch": "resnet32", "layout": "paper_cifar", "stage": "ssp", "dataset": "cifar10", "rho": 100,
            "metric": {}}
    bad = {**good, "name": "lab-corrupt", "sha256": "0" * 64}
    offline = {**good, "name": "lab-offline", "url": "http://127.0.0.1:9/ckpt.pth.tar"}
    registry.write_text(yaml.safe_dump({"checkpoints": [good, bad, offline]}))
    monkeypatch.setenv("IMBSEMI_REGISTRY", str(registry))
    monkeypatch.setenv("IMBSEMI_CACHE", str(tmp_path / "cache"))
    path = released.fetch("lab-rotation")
    assert path == tmp_path / "cache" / "pretrained" / "lab-rotation.pth" and sha256_file(path) == good["sha256"]
    report = load_backbone(MODELS["resnet32"](10), "pretrained:lab-rotation")
    assert report.startswith("paper_cifar layout: backbone 186")
    with pytest.raises(CheckpointError, match="lab-corrupt: .* has sha256 [0-9a-f]{64}, the registry says 0000"):
        released.fetch("lab-corrupt")
    assert not (tmp_path / "cache" / "pretrained" / "lab-corrupt.pth").exists()
    with pytest.raises(CheckpointError, match="cannot download pretrained:lab-offline from http://127.0.0.1:9/"):
        released.fetch("lab-offline")


@pytest.mark.parametrize("head, use_norm", [("fc", False), ("linear", False), ("fc", True)])
def test_converted_paper_models_evaluate_like_the_original_files(tmp_path: Path, head: str, use_norm: bool) -> None:
    write_cifar10(tmp_path / "data", train_per_class=20, test_per_class=3)
    obj, state = final(head, use_norm)
    source = save(tmp_path / "ckpt.best.pth.tar", obj, legacy=True)
    convert_checkpoint(source, tmp_path / "model.pt")
    converted = read_checkpoint(tmp_path / "model.pt")
    assert converted["kind"] == "classifier" and converted["provenance"]["layout"] == "paper_cifar"
    assert all(torch.equal(converted["state_dict"][k], v) for k, v in state.items())
    reports = [run_evaluate(load_config(EvaluateConfig, CONFIGS / "cifar10_data.yaml", [
        f"checkpoint={path}", f"data.root={tmp_path / 'data'}", f"out_dir={tmp_path}", f"name={path.name}",
        "data.rho=2", "data.n_max=10", "data.verify=false"])).metrics["test"]
        for path in (source, tmp_path / "model.pt")]
    assert reports[0] == reports[1] and len(reports[0]["per_class_acc"]) == 10


def balancing_file(path: Path, wrapper: str) -> Path:
    """imagenet_inat's layout: ResNet-50 features + linear classifier (10 classes here), module. keys."""
    state = MODELS["resnet50"](10).state_dict()
    networks = {"feat_model": {f"module.{k}": v for k, v in state.items() if not k.startswith("fc.")},
                "classifier": {f"module.{k}": v for k, v in state.items() if k.startswith("fc.")}}
    return save(path, {"epoch": 90, wrapper: networks})


def torchvision_file(path: Path) -> Path:
    return save(path, torchvision.models.resnet18(num_classes=10).state_dict())


@pytest.mark.parametrize("make", [lambda p: save(p, rotation(True)[0]), lambda p: save(p, final("linear")[0], True),
                                  lambda p: balancing_file(p, "state_dict_best"),
                                  lambda p: balancing_file(p, "state_dict"), torchvision_file],
                         ids=["rotation", "semi-linear", "balancing-final", "balancing-epoch", "torchvision"])
def test_every_classifier_layout_converts_and_evaluates(tmp_path: Path, make) -> None:
    write_cifar10(tmp_path / "data", train_per_class=20, test_per_class=3)
    source = make(tmp_path / "source.pth")
    convert_checkpoint(source, tmp_path / "model.pt")
    converted = read_checkpoint(tmp_path / "model.pt")
    classes = converted["arch_kwargs"]["num_classes"]
    metrics = [run_evaluate(load_config(EvaluateConfig, CONFIGS / "cifar10_data.yaml", [
        f"checkpoint={path}", f"data.root={tmp_path / 'data'}", f"out_dir={tmp_path}", f"name={path.stem}",
        "data.n_max=10", "data.verify=false"])) if classes == 10 else None for path in (source, tmp_path / "model.pt")]
    if classes == 10:  # the same predictions from the original file and the converted one
        assert metrics[0].metrics["test"] == metrics[1].metrics["test"]
        assert metrics[1].metrics["arch"] == converted["arch"]
        assert (metrics[1].folder / "figures/confusion.png").is_file()
    else:  # the rotation model: a 4-way head, a backbone for a 10-class task
        assert classes == 4 and load_backbone(MODELS["resnet32"](10), tmp_path / "model.pt").startswith(
            "imbsemi layout: backbone 186/186 tensors loaded; head dropped")


def test_evaluate_refuses_a_checkpoint_of_other_classes(tmp_path: Path) -> None:
    source = save(tmp_path / "c100.pth.tar", final(classes=100)[0])
    with pytest.raises(CheckpointError, match="100 classes and 3 input channels; data source 'digits' has 10 and 1"):
        run_evaluate(load_config(EvaluateConfig, CONFIGS / "digits_data.yaml",
                                 [f"checkpoint={source}", f"out_dir={tmp_path}"]))


def test_pretrained_cli_lists_inspects_converts_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from imbsemi.cli.main import main
    monkeypatch.setenv("IMBSEMI_CACHE", str(tmp_path / "cache"))
    assert main(["pretrained", "list"]) == 0
    listing = capsys.readouterr().out
    assert "paper-imagenet_lt-crt-ssp" in listing and listing.count("  download") == 33
    source = save(tmp_path / "rot.pth.tar", rotation(True)[0])
    assert main(["pretrained", "inspect", str(source)]) == 0
    out = capsys.readouterr().out
    assert "layout: paper_cifar" in out and "tensors: 188" in out and "head: [4, 64]" in out
    assert main(["pretrained", "convert", str(source), str(tmp_path / "rot.pt")]) == 0
    assert read_checkpoint(tmp_path / "rot.pt")["arch_kwargs"] == {"num_classes": 4, "in_channels": 3,
                                                                   "use_norm": False}
    entry = released.find("ce_resnet32_digits_rho10")
    assert main(["evaluate", "--config", str(CONFIGS / "digits_data.yaml"), f"checkpoint=pretrained:{entry['name']}",
                 f"out_dir={tmp_path}"]) == 0
    assert f"balanced_acc={100 * entry['metric']['test_balanced_acc']:.2f}" in capsys.readouterr().out
