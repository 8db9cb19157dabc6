"""The semi stage: FixMatch on digits through the stage table, the LT-SSL reporting protocol, the exported
EMA classifier, and an exact resume after a kill."""
from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import pytest
import torch

from conftest import CONFIGS
from imbsemi.checkpoints import load_classifier, read_checkpoint
from imbsemi.config import PipelineConfig, SemiConfig
from imbsemi.config_files import load_config
from imbsemi.data.loader import eval_loader
from imbsemi.io import read_json
from imbsemi.stages import run_pipeline, run_semi
from imbsemi.stages.build import make_splits
from formats import write_cifar10
from test_resume import kill_during_training

CONFIG = CONFIGS / "semi/digits.yaml"
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


def test_pipeline_runs_joint_training_beside_self_training_and_after_ssp(tmp_path: Path) -> None:
    tiny = ["ssp.epochs=1", "finetune.epochs=1", "trainer.limit_train_batches=2", "ssp.optim.batch_size=16",
            "finetune.optim.batch_size=16", "ssp.optim.warmup_epochs=0", "finetune.optim.warmup_epochs=0",
            "semi.steps=4", "semi.eval_every=2", "semi.batch_size=8", "semi.last_evals=2",
            "trainer.enable_progress_bar=false"]
    config = load_config(PipelineConfig, CONFIGS / "lt_ssl_digits.yaml", [*tiny, f"out_dir={tmp_path}"])
    config = dataclasses.replace(config, variants={"ce+pseudo": ["finetune", "pseudolabel", "selftrain"],
                                                   "fixmatch": ["semi"], "ssp+fixmatch": ["ssp", "semi"]})
    result = run_pipeline(config)
    metrics = result.metrics
    assert list(metrics["test"]) == ["ce+pseudo", "fixmatch", "ssp+fixmatch"]
    assert metrics["variants"]["ssp+fixmatch"] == ["ssp+fixmatch.ssp", "ssp+fixmatch"]
    joint = read_json(result.folder / "semi" / "ssp+fixmatch" / "metrics.json")
    assert joint["init"]["path"] == str(result.folder / "ssp" / "ssp+fixmatch.ssp" / "backbone.pt")
    assert "backbone" in joint["init"]["report"] and joint["test"] == metrics["test"]["ssp+fixmatch"]
    assert joint["evaluations"][-1]["step"] == 4
    summary = read_json(result.folder / "summary.json")
    assert summary["fixmatch/balanced_acc"] == metrics["test"]["fixmatch"]["balanced_acc"]


# each correction with its warm-ups shortened so that a few steps exercise it
METHODS = {"fixmatch": "{}", "darp": "{darp_warmup_ratio: 0.25, darp_num_refine_iter: 1}",
           "abc": "{}", "acr": "{est_epoch: 0}", "crest": "{num_generations: 2}",
           "daso": "{warmup_steps: 1, dist_every: 1}"}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_on_digits_and_exports_what_it_evaluates(tmp_path: Path, method: str) -> None:
    config = load_config(SemiConfig, CONFIG, [*FAST, "steps=8", "eval_every=4", f"method.name={method}",
                                              f"method.kwargs={METHODS[method]}", f"out_dir={tmp_path}"])
    result = run_semi(config)
    assert result.metrics["method"] == method and [e["step"] for e in result.metrics["evaluations"]] == [4, 8]
    model, _ = load_classifier(result.paths["model"])
    splits = make_splits(config)
    with torch.no_grad():
        preds = torch.cat([model.eval()(x).argmax(1) for x, _ in eval_loader(splits.test, splits.mean, splits.std,
                                                                                 "cpu")])
    accuracy = (preds == torch.from_numpy(splits.test.targets)).double().mean().item()
    assert accuracy == pytest.approx(result.metrics["test_final"]["acc"])


@pytest.mark.parametrize("method", ["fixmatch", "acr"])
def test_joint_training_on_miniature_cifar10_with_a_reversed_pool(tmp_path: Path, method: str) -> None:
    write_cifar10(tmp_path, 40, 4)
    config = load_config(SemiConfig, CONFIGS / "semi/cifar10_n1500_m3000_g100_reversed.yaml", [
        f"data.root={tmp_path}", "data.verify=false", "data.n_max=10", "data.rho=10", "data.pool.n_max=20",
        "data.pool.rho_u=10", "model.arch=wrn28_2", "steps=4", "eval_every=2", "batch_size=4", "last_evals=2",
        f"method.name={method}", f"method.kwargs={METHODS[method]}", "trainer.enable_progress_bar=false",
        f"out_dir={tmp_path}"])
    result = run_semi(config)
    assert result.metrics["pool_size"] == sum(int(20 * 10 ** (-c / 9)) for c in range(10))
    assert len(result.metrics["evaluations"]) == 2 and 0 <= result.metrics["test"]["balanced_acc"] <= 1
