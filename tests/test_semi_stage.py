"""The semi stage: FixMatch on digits through the stage table, the LT-SSL reporting protocol, the exported
EMA classifier, and an exact resume after a kill."""
from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

from conftest import CONFIGS
from imbsemi.checkpoints import load_classifier, read_checkpoint
from imbsemi.config import SemiConfig
from imbsemi.config_files import load_config
from imbsemi.data.loader import eval_loader
from imbsemi.stages import run_semi
from imbsemi.stages.build import make_splits
from test_resume import kill_during_training

CONFIG = CONFIGS / "semi/fixmatch_digits.yaml"
FAST = ["steps=6", "eval_every=3", "batch_size=8", "mu=2", "ema=0.5", "last_evals=2", "model.arch=resnet20",
        "trainer.enable_progress_bar=false"]


def test_fixmatch_on_digits_reports_the_protocol_and_exports_the_ema_model(tmp_path: Path) -> None:
    config = load_config(SemiConfig, CONFIG, [*FAST, f"out_dir={tmp_path}"])
    result = run_semi(config)
    metrics = result.metrics
    evaluations = metrics["evaluations"]
    assert [entry["step"] for entry in evaluations] == [3, 6]
    for key in ("acc", "balanced_acc", "few"):
        assert metrics["test"][key] == pytest.approx(statistics.fmean(entry[key] for entry in evaluations))
    assert metrics["test_best"]["acc"] == max(entry["acc"] for entry in evaluations)
    stats = evaluations[-1]["pseudo_labels"]
    assert len(stats["class_mask_rate"]) == 10 and 0 <= stats["mask_rate"] <= 1
    # the exported classifier is the EMA network of the last step: it reproduces the final report
    model, _ = load_classifier(result.paths["model"])
    splits = make_splits(config)
    with torch.no_grad():
        preds = torch.cat([model.eval()(x).argmax(1) for x, _ in eval_loader(splits.test, splits.mean, splits.std,
                                                                                 "cpu")])
    accuracy = (preds == torch.from_numpy(splits.test.targets)).double().mean().item()
    assert accuracy == pytest.approx(metrics["test_final"]["acc"]) == pytest.approx(evaluations[-1]["acc"])


def test_semi_killed_mid_run_resumes_bit_exactly(tmp_path: Path) -> None:
    common = ["steps=40", "eval_every=10", "batch_size=8", "mu=2", "ema=0.9", "model.arch=resnet20",
              "trainer.enable_progress_bar=false", f"out_dir={tmp_path}"]
    reference = run_semi(load_config(SemiConfig, CONFIG, [*common, "name=reference"]))
    killed = tmp_path / "semi" / "killed"
    kill_during_training("SemiConfig", "run_semi", CONFIG, [*common, "name=killed"], killed, 2, 4)
    resumed = run_semi(load_config(SemiConfig, CONFIG, [*common, "name=killed"]))
    assert resumed.metrics["evaluations"] == reference.metrics["evaluations"]
    expected = read_checkpoint(reference.paths["model"])["state_dict"]
    for name, value in read_checkpoint(resumed.paths["model"])["state_dict"].items():
        assert torch.equal(value, expected[name]), name
