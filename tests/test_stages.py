"""Each stage runs a few steps on CPU through its stage function and writes its outputs; the CLIs
report them."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from imbsemi.checkpoints import read_checkpoint
from imbsemi.classifier.pseudo_labels import PseudoLabels
from imbsemi.cli import main as imbsemi_main
from imbsemi.config import FinetuneConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.data.datamodule import LTDataModule, PseudoLabeledPool, TrainSpec
from imbsemi.data.splits import LTSplits
from imbsemi.errors import DataError
from imbsemi.models import HEAD_KEYS
from imbsemi.stages import run_finetune, run_pseudolabel, run_ssp

from conftest import CONFIGS, FAST


@pytest.fixture(scope="module")
def stage_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SSP -> CE from SSP -> pseudo-labels -> self-training, a few steps each."""
    out = tmp_path_factory.mktemp("runs")
    common = [*FAST, f"out_dir={out}"]
    ssp = run_ssp(load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml", [*common, "name=ssp"]))
    backbone = ssp.paths["backbone"]
    base = run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                                    [*common, "name=base", f"init={backbone}"]))
    labels = run_pseudolabel(load_config(PseudolabelConfig, CONFIGS / "pseudolabel/digits.yaml",
                                         [f"out_dir={out}", "name=labels", f"checkpoint={base.paths['model']}"]))
    run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                             [*common, "name=self", f"pseudo_labels={labels.paths['pseudo_labels']}"]))
    assert ssp.folder == out / "ssp" / "ssp" and base.folder == out / "finetune" / "base"
    return {"out": out, "backbone": backbone, "model": base.paths["model"], "labels": labels.paths["pseudo_labels"]}


def test_stage_clis_report_their_outputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from imbsemi.cli import finetune, ssp_pretrain

    common = [*FAST, f"out_dir={tmp_path}"]
    assert ssp_pretrain.main(["--config", "ssp/rotation_digits.yaml", *common, "name=s", "epochs=1"]) == 0
    assert f"backbone -> {tmp_path / 'ssp' / 's' / 'backbone.pt'}" in capsys.readouterr().out
    assert finetune.main(["--config", str(CONFIGS / "finetune/ce_digits.yaml"), *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith("finetune: test acc=") and str(tmp_path / "finetune" / "ce_digits-") in out


def test_ssp_exports_a_backbone_without_head(stage_outputs: dict[str, Path]) -> None:
    payload = read_checkpoint(stage_outputs["backbone"])
    assert payload["kind"] == "backbone" and payload["arch"] == "resnet32"
    assert len(payload["state_dict"]) == 186 and not set(HEAD_KEYS) & set(payload["state_dict"])
    folder = stage_outputs["backbone"].parent
    assert (folder / "config.yaml").is_file() and (folder / "checkpoints" / "last.ckpt").is_file()
    assert (folder / "logs" / "metrics.csv").is_file()


def test_finetune_starts_from_every_ssp_tensor(stage_outputs: dict[str, Path]) -> None:
    metrics = json.loads((stage_outputs["model"].parent / "metrics.json").read_text())
    assert metrics["init"]["report"] == ("imbsemi layout: backbone 186/186 tensors loaded; "
                                         "head dropped (not in the checkpoint)")
    assert len(metrics["test"]["per_class_acc"]) == 10
    manifest = json.loads((stage_outputs["model"].parent / "data_manifest.json").read_text())
    assert manifest["labeled"]["class_counts"] == [50, 38, 29, 23, 17, 13, 10, 8, 6, 5]
    assert len(manifest["labeled"]["indices_sha256"]) == 64


def test_pseudolabels_cover_the_pool_with_provenance(stage_outputs: dict[str, Path]) -> None:
    pseudo = PseudoLabels.load(stage_outputs["labels"])
    assert len(pseudo.labels) == 590 and pseudo.labels.min() >= 0 and pseudo.labels.max() <= 9
    assert ((pseudo.confidences > 0) & (pseudo.confidences <= 1)).all()
    assert len(pseudo.provenance["checkpoint_sha256"]) == 64 and pseudo.provenance["pool_size"] == 590
    metrics = json.loads((stage_outputs["labels"].parent / "metrics.json").read_text())
    report = metrics["reference_report"]
    assert sum(map(sum, report["confusion"])) == 590 and report["acc"] == metrics["reference_accuracy"]
    assert metrics["irrelevant_pseudo_label_counts"] == [0] * 10  # relevance 1: no irrelevant images


def test_report_compares_runs(stage_outputs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    base, self_trained = stage_outputs["model"].parent, stage_outputs["out"] / "finetune" / "self"
    assert imbsemi_main.main(["report", str(base), str(self_trained)]) == 0
    lines = capsys.readouterr().out.splitlines()
    report = json.loads((base / "metrics.json").read_text())["test"]
    assert lines[0] == "| run | acc | balanced_acc | macro_f1 | g_mean | many | medium | few |"
    assert lines[2].startswith(f"| base | {100 * report['acc']:.1f} | {100 * report['balanced_acc']:.1f} | "
                               f"{100 * report['macro_f1']:.1f} | {100 * report['g_mean']:.1f} |")
    assert lines[3].startswith("| self |")
    assert imbsemi_main.main(["report", str(stage_outputs["backbone"].parent)]) == 2
    assert "no test metrics" in capsys.readouterr().err


def test_stages_write_their_figures(stage_outputs: dict[str, Path]) -> None:
    from test_plots import assert_png

    for figure in ("per_class.png", "tsne.png"):
        assert_png(stage_outputs["model"].parent / "figures" / figure)
    assert_png(stage_outputs["labels"].parent / "figures" / "pseudo_labels.png")


def test_self_training_uses_labeled_plus_pool(stage_outputs: dict[str, Path]) -> None:
    metrics = json.loads((stage_outputs["out"] / "finetune" / "self" / "metrics.json").read_text())
    assert metrics["train_size"] == 199 + 590


def test_pseudo_labels_of_another_pool_are_refused(stage_outputs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="was made for another pool"):
        run_finetune(load_finetune(tmp_path, "seed=3", f"pseudo_labels={stage_outputs['labels']}"), tmp_path)


def load_finetune(tmp_path: Path, *overrides: str) -> FinetuneConfig:
    return load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", [*FAST, f"out_dir={tmp_path}", *overrides])


def test_pseudolabel_refuses_a_checkpoint_with_other_classes(stage_outputs: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    payload = torch.load(stage_outputs["model"], weights_only=True)
    payload["arch_kwargs"]["num_classes"] = 7
    payload["state_dict"]["fc.weight"] = payload["state_dict"]["fc.weight"][:7]
    payload["state_dict"]["fc.bias"] = payload["state_dict"]["fc.bias"][:7]
    torch.save(payload, tmp_path / "seven.pt")
    code = imbsemi_main.main(["pseudolabel", "--config", str(CONFIGS / "pseudolabel/digits.yaml"),
                              f"out_dir={tmp_path}", f"checkpoint={tmp_path / 'seven.pt'}"])
    assert code == 2
    assert "seven.pt: 7 classes, but data source 'digits' has 10" in capsys.readouterr().err


def test_same_seed_same_stage_outputs(tmp_path: Path) -> None:
    def backbone(name: str) -> dict[str, torch.Tensor]:
        config = load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml",
                             [*FAST, f"out_dir={tmp_path}", f"name={name}"])
        return read_checkpoint(run_ssp(config).paths["backbone"])["state_dict"]
    first, second = backbone("a"), backbone("b")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_pseudolabel_config_without_checkpoint_is_an_error(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code = imbsemi_main.main(["pseudolabel", "--config", str(CONFIGS / "pseudolabel/digits.yaml"),
                              f"out_dir={tmp_path}"])
    assert code == 2 and "checkpoint: required" in capsys.readouterr().err


def digits_splits(tmp_path: Path) -> LTSplits:
    config = load_finetune(tmp_path)
    return LTSplits(config.data, config.seed)


def graded_pseudo_labels(tmp_path: Path) -> Path:
    """A PseudoLabels file for the digits pool: the reference labels, confidences 0.1 ... 0.9 evenly."""
    pool = digits_splits(tmp_path).pool
    path = tmp_path / "graded.npz"
    PseudoLabels(pool.targets.copy(), np.linspace(0.1, 0.9, len(pool)).astype(np.float32),
                 {"pool_fingerprint": pool.fingerprint(), "pool_size": len(pool)}).save(path)
    return path


def test_threshold_keeps_confident_pool_images(tmp_path: Path) -> None:
    labels = graded_pseudo_labels(tmp_path)
    metrics = run_finetune(load_finetune(tmp_path, f"pseudo_labels={labels}", "self_training.threshold=0.55",
                                         "self_training.omega=0.5", "name=thresholded")).metrics
    kept = int((np.linspace(0.1, 0.9, 590).astype(np.float32) >= 0.55).sum())
    assert metrics["train_size"] == 199 + kept and kept == 258  # 590 x 0.35 / 0.8, rounded to the grid


def test_omega_weights_and_unlabeled_share_reach_the_batches(tmp_path: Path) -> None:
    pseudo = PseudoLabels.load(graded_pseudo_labels(tmp_path))
    module = LTDataModule(digits_splits(tmp_path),
                          TrainSpec(64, PseudoLabeledPool(pseudo.labels, pseudo.confidences, omega=0.25),
                                    unlabeled_share=0.5))
    loader = module.train_dataloader()
    weights = torch.cat([batch[2] for _ in range(20) for batch in loader])  # 20 epochs, 15,360 draws
    assert set(weights.tolist()) == {1.0, 0.25}
    assert abs((weights == 0.25).float().mean().item() - 0.5) < 0.03  # half from the pool; 0.03 = 7 sd


def test_threshold_that_leaves_no_pool_image_is_an_error(tmp_path: Path) -> None:
    labels = graded_pseudo_labels(tmp_path)
    with pytest.raises(DataError, match=r"threshold = 0.95 leaves none of the 590 pool images \(highest "
                                        r"confidence 0.900\)"):
        config = load_finetune(tmp_path, f"pseudo_labels={labels}", "self_training.threshold=0.95")
        run_finetune(config, tmp_path)


def test_soft_self_training_uses_the_stored_softmax(tmp_path: Path) -> None:
    splits = digits_splits(tmp_path)
    pool = splits.pool
    probabilities = np.random.default_rng(0).dirichlet(np.ones(10), len(pool)).astype(np.float32)
    path = tmp_path / "soft.npz"
    PseudoLabels(probabilities.argmax(1), probabilities.max(1), {"pool_fingerprint": pool.fingerprint(),
                                                                 "pool_size": len(pool)}, probabilities).save(path)
    loaded = PseudoLabels.load(path)
    assert np.array_equal(loaded.probabilities, probabilities)
    datamodule = LTDataModule(splits, TrainSpec(64, PseudoLabeledPool(loaded.labels, loaded.confidences,
                                                                      probabilities=loaded.probabilities)))
    targets = torch.cat([y for _, y in datamodule.train_dataloader()])
    assert targets.shape[1] == 10 and torch.allclose(targets.sum(1), torch.ones(len(targets)), atol=1e-5)
    one_hot = (targets == 1).any(1)  # labeled images
    assert 0 < one_hot.sum() < len(targets) and ((targets > 0).sum(1)[one_hot] == 1).all()
    metrics = run_finetune(load_finetune(tmp_path, f"pseudo_labels={path}", "self_training.soft=true",
                                         "name=soft")).metrics
    assert metrics["train_size"] == 199 + 590
    wide = np.random.default_rng(0).dirichlet(np.ones(11), len(pool)).astype(np.float32)
    PseudoLabels(wide[:, :10].argmax(1), wide.max(1), {"pool_fingerprint": pool.fingerprint(),
                                                       "pool_size": len(pool)}, wide).save(tmp_path / "wide.npz")
    with pytest.raises(DataError, match=r"wide.npz: probabilities have \(11,\) columns; the pool's data has 10"):
        run_finetune(load_finetune(tmp_path, f"pseudo_labels={tmp_path / 'wide.npz'}", "self_training.soft=true",
                                   "name=wide"))
    with pytest.raises(DataError, match="has no probabilities; make it with imbsemi pseudolabel"):
        run_finetune(load_finetune(tmp_path, f"pseudo_labels={graded_pseudo_labels(tmp_path)}",
                                   "self_training.soft=true"), tmp_path)


def test_nan_confidences_and_foreign_sizes_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "nan.npz", labels=np.zeros(3, np.int64), confidences=np.array([0.5, np.nan, 1.0]))
    (tmp_path / "nan.json").write_text("{}")
    with pytest.raises(DataError, match="nan.npz: confidences contain NaN or inf"):
        PseudoLabels.load(tmp_path / "nan.npz")
    np.savez(tmp_path / "big.npz", labels=np.zeros(3, np.int64), confidences=np.array([0.5, 1.5, 1.0]))
    (tmp_path / "big.json").write_text("{}")
    with pytest.raises(DataError, match=r"big.npz: confidences must be in \[0, 1\] .*got \[0.5, 1.5\]"):
        PseudoLabels.load(tmp_path / "big.npz")
    np.savez(tmp_path / "short.npz", labels=np.zeros(3, np.int64), confidences=np.ones(3))
    (tmp_path / "short.json").write_text("{}")
    with pytest.raises(DataError, match=r"short.npz was made for another pool \(3 images"):
        run_finetune(load_finetune(tmp_path, f"pseudo_labels={tmp_path / 'short.npz'}"), tmp_path)


@pytest.mark.parametrize("cls, relative", [(FinetuneConfig, "finetune/ce_digits.yaml"),
                                           (SSPConfig, "ssp/rotation_digits.yaml")], ids=["finetune", "ssp"])
def test_without_a_validation_split_the_validation_loop_is_off(cls: type, relative: str, tmp_path: Path) -> None:
    config = load_config(cls, CONFIGS / relative, [*FAST, f"out_dir={tmp_path}", "data.val_per_class=0"])
    run = run_finetune if cls is FinetuneConfig else run_ssp
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(config)
    assert not [w for w in caught if "val" in str(w.message).lower() or "across ranks is zero" in str(w.message)]
    assert result.metrics.get("selection", "last") == "last" and result.metrics.get("score") is None
