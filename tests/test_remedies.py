"""The imbalance remedies beyond losses in real runs on digits: Meta-Weight-Net and BBN from the CLI and in a
pipeline, mode: ensemble with imbalanced-ensemble estimators, and the class-difficulty diagnostic."""
from __future__ import annotations

import csv
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from conftest import CONFIGS, FAST
from formats import write_cifar10
from imbsemi.checkpoints import load_classifier, read_checkpoint
from imbsemi.config import FinetuneConfig, PipelineConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.errors import ConfigError
from imbsemi.io import read_json
from imbsemi.stages import run_finetune, run_pipeline, run_ssp
from imbsemi.stages.diagnose import class_overlap, diagnosable_runs, diagnose_run

ENSEMBLES = ["SelfPacedEnsembleClassifier", "BalancedRandomForestClassifier", "EasyEnsembleClassifier"]


@pytest.fixture(scope="module")
def ce_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ce")
    config = load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", [*FAST, f"out_dir={out}", "name=ce"])
    return run_finetune(config).paths["model"]


@pytest.mark.parametrize("relative, arch", [("finetune/mwn_digits.yaml", "resnet32"),
                                            ("finetune/bbn_digits.yaml", "resnet32_bbn")])
def test_meta_weight_net_and_bbn_train_from_the_cli(tmp_path: Path, relative: str, arch: str) -> None:
    from imbsemi.cli.finetune import main

    assert main(["--config", str(CONFIGS / relative), *FAST, "epochs=2", f"out_dir={tmp_path}", "name=run"]) == 0
    folder = tmp_path / "finetune" / "run"
    metrics = read_json(folder / "metrics.json")
    assert metrics["method"] == ("meta_weight_net" if "mwn" in relative else "bbn")
    model, meta = load_classifier(folder / "model.pt")
    assert meta["arch"] == arch and 0 <= metrics["test"]["balanced_acc"] <= 1
    with open(folder / "logs" / "metrics.csv") as handle:
        logged = [row for row in csv.DictReader(handle)]
    key = "train/meta_loss" if "mwn" in relative else "train/alpha"
    values = [float(row[key]) for row in logged if row.get(key)]
    assert len(values) == 4 and all(np.isfinite(values))  # 2 epochs of 2 batches
    if key == "train/alpha":
        assert sorted(set(values)) == [0.75, 1.0]  # 1 - (epoch / 2)^2
    last = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    if "mwn" in relative:
        assert "meta_optimizer" in last and any(k.startswith("weight_net.") for k in last["state_dict"])
    assert not any(k.startswith("weight_net.") for k in read_checkpoint(folder / "model.pt")["state_dict"])


def test_meta_weight_net_needs_a_validation_split(tmp_path: Path) -> None:
    config = load_config(FinetuneConfig, CONFIGS / "finetune/mwn_digits.yaml",
                         [*FAST, f"out_dir={tmp_path}", "data.val_per_class=0"])
    with pytest.raises(ConfigError, match="meta-trains on the validation split"):
        run_finetune(config)


def test_bbn_refuses_a_network_without_branches(tmp_path: Path) -> None:
    config = load_config(FinetuneConfig, CONFIGS / "finetune/bbn_digits.yaml",
                         [*FAST, f"out_dir={tmp_path}", "model.arch=resnet32"])
    with pytest.raises(ConfigError, match="method bbn needs a bilateral-branch network"):
        run_finetune(config)


@pytest.mark.parametrize("estimator", ENSEMBLES)
def test_ensemble_mode_fits_an_imbalanced_ensemble_on_network_features(tmp_path: Path, ce_model: Path,
                                                                      estimator: str) -> None:
    pytest.importorskip("imbens", reason="the ensemble extra: pip install imbsemi[ensemble]")
    config = load_config(FinetuneConfig, CONFIGS / "finetune/ensemble_digits.yaml", [
        f"out_dir={tmp_path}", f"init={ce_model}", f"ensemble.estimator={estimator}", "ensemble.kwargs={}"])
    result = run_finetune(config)
    metrics = result.metrics
    assert metrics["estimator"].startswith("imbens.ensemble.") and metrics["estimator"].endswith(estimator)
    assert metrics["feature_dim"] == 64 and metrics["train_size"] == 199
    assert set(result.paths) == {"estimator"} and "186/186 tensors loaded; head dropped" in metrics["init"]["report"]
    assert {"macro_f1", "g_mean", "per_class_f1"} <= set(metrics["test"])
    assert metrics["test"]["balanced_acc"] > 0.2  # twice chance: the features of 2 CE steps already separate
    fitted = joblib.load(result.paths["estimator"])
    assert type(fitted).__name__ == estimator and metrics["estimator_params"]["random_state"] == "0"
    assert (fitted.predict(np.eye(64, dtype=np.float32)) >= 0).all()


def test_ensemble_errors_name_the_estimator_and_its_kwargs(tmp_path: Path, ce_model: Path) -> None:
    common = [f"out_dir={tmp_path}", f"init={ce_model}"]
    with pytest.raises(ConfigError, match=r"ensemble.estimator = 'NoSuchForest': not in imbens.ensemble"):
        run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ensemble_digits.yaml",
                                 [*common, "ensemble.estimator=NoSuchForest"]))
    with pytest.raises(ConfigError, match=r"ensemble.kwargs = \{'n_estimators': 20, 'depth': 3\}: RandomForestClassifier "):
        run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ensemble_digits.yaml", [
            *common, "ensemble.estimator=sklearn.ensemble.RandomForestClassifier", "ensemble.kwargs={depth: 3}"]))
    with pytest.raises(ConfigError, match="mode: ensemble needs init=PATH"):
        run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ensemble_digits.yaml", [f"out_dir={tmp_path}"]))


def test_overlap_is_the_share_of_foreign_neighbours() -> None:
    """Four points on a circle: class 0 at angles 0 and 10 degrees, class 1 at 25 and 180. Nearest neighbours:
    0 -> 10, 25; 10 -> 0, 25; 25 -> 10, 0; 180 -> 25, 10. With k = 1 only 25's neighbour is foreign (class 1:
    1/2); with k = 2 the foreign shares are 1/2, 1/2 (class 0) and 1, 1/2 (class 1). A class without images
    scores nan."""
    angles = torch.deg2rad(torch.tensor([0.0, 10.0, 25.0, 180.0]))
    features = torch.stack([angles.cos(), angles.sin()], dim=1)
    labels = torch.tensor([0, 0, 1, 1])
    assert class_overlap(features, labels, 2, k=1) == [0.0, 0.5]
    overlap = class_overlap(features, labels, 3, k=2)
    assert overlap[:2] == [0.5, 0.75] and np.isnan(overlap[2])


def test_diagnose_writes_a_table_and_a_plot_for_a_classifier_and_an_ssp_run(tmp_path: Path, ce_model: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    from imbsemi.cli.main import main
    from test_plots import assert_png

    folder = ce_model.parent
    assert main(["diagnose", str(folder), "--k", "5"]) == 0
    printed = capsys.readouterr().out
    diagnosis = read_json(folder / "diagnose" / "diagnose.json")
    assert diagnosis["recall"] == read_json(folder / "metrics.json")["test"]["per_class_acc"]
    assert diagnosis["counts"] == [50, 38, 29, 23, 17, 13, 10, 8, 6, 5] and diagnosis["k"] == 5
    assert all(0 <= value <= 1 for value in diagnosis["overlap"])
    assert printed.count("\n| ") == 10 + 1 and "Spearman correlation of recall with log training count" in printed
    assert_png(folder / "diagnose" / "recall_vs_count.png")
    ssp = run_ssp(load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml", [*FAST, f"out_dir={tmp_path}"]))
    result = diagnose_run(ssp.folder)
    assert len(result.recall) == 10 and result.files["table"].is_file()


TINY_PIPELINE = ["ssp.epochs=1", "finetune.epochs=1", "trainer.limit_train_batches=1",
                 "trainer.enable_progress_bar=false", "ssp.optim.warmup_epochs=0", "finetune.optim.warmup_epochs=0",
                 "finetune.test_curve=false", "sections.crt.epochs=1"]


@pytest.mark.slow  # four pipeline variants, ~12 s
def test_remedies_pipeline_runs_every_variant_and_diagnoses_each(tmp_path: Path) -> None:
    pytest.importorskip("imbens", reason="the ensemble extra: pip install imbsemi[ensemble]")
    result = run_pipeline(load_config(PipelineConfig, CONFIGS / "remedies_digits.yaml", [
        *TINY_PIPELINE, "only=[meta-weight-net, bbn, crt, spe-on-ce]", f"out_dir={tmp_path}"]))
    assert list(result.metrics["test"]) == ["meta-weight-net", "bbn", "crt", "spe-on-ce"]
    for report in result.metrics["test"].values():
        assert {"macro_f1", "g_mean"} <= set(report)
    runs = diagnosable_runs(result.folder)
    assert sorted(run.name for run in runs) == ["bbn", "crt", "meta-weight-net", "spe-on-ce"]
    for run in runs:
        assert len(diagnose_run(run).overlap) == 10


@pytest.mark.slow  # nine variants on 32 x 32 RGB images, ~40 s
def test_every_remedy_runs_on_miniature_cifar10_files(tmp_path: Path) -> None:
    pytest.importorskip("imbens", reason="the ensemble extra: pip install imbsemi[ensemble]")
    write_cifar10(tmp_path, 40, 4)
    result = run_pipeline(load_config(PipelineConfig, CONFIGS / "remedies_digits.yaml", [
        *TINY_PIPELINE, "data.source=cifar10", f"data.root={tmp_path}", "data.verify=false", "data.n_max=20",
        "data.val_per_class=2", "data.augment.crop_padding=4", "data.augment.flip=true", f"out_dir={tmp_path}"]))
    assert len(result.metrics["test"]) == 9
    for report in result.metrics["test"].values():
        assert report["shot_groups"] and 0 <= report["g_mean"] <= report["balanced_acc"] <= 1
