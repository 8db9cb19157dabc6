"""Train rules and decoupled modes in real runs: DRW timing, re-sampling, cRT, tau-norm, LDAM head."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from imbsemi.checkpoints import read_checkpoint
from imbsemi.classifier.module import ClassifierModule
from imbsemi.config import FinetuneConfig, OptimConfig
from imbsemi.config_files import load_config
from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import Standardize
from imbsemi.data.loader import DeviceLoader
from imbsemi.losses import LOSSES
from imbsemi.data.sampling import sample_weights
from imbsemi.losses.weighting import WeightSchedule
from imbsemi.models import HEAD_KEYS, MODELS
from imbsemi.stages import run_finetune
from imbsemi.stages.finetune import TAU_GRID

from conftest import CONFIGS, FAST


def finetune(tmp_path: Path, name: str, *overrides: str) -> dict:
    config = load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                         [*FAST, f"out_dir={tmp_path}", f"name={name}", *overrides])
    return run_finetune(config).metrics


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base")
    return Path(finetune(out, "base")["model"])


def test_drw_turns_class_weights_on_at_the_configured_epoch() -> None:
    images = np.zeros((40, 4, 4, 1), np.uint8)
    arrays = ImageArrays(images, np.repeat([0, 1], [30, 10]), ("a", "b"), Provenance.single("toy", np.arange(40)))
    loader = DeviceLoader(arrays, 8, Standardize(torch.zeros(1), torch.ones(1)), shuffle=True)
    counts = [30, 10]
    module = ClassifierModule(MODELS["resnet20"](2, in_channels=1), LOSSES["ce"](counts),
                              OptimConfig(warmup_epochs=0), 4, counts,
                              weight_schedule=WeightSchedule("drw", counts, "inverse_frequency", 0.9, drw_start=2))
    seen = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            seen.append((trainer.current_epoch, pl_module.loss.weighted, pl_module.loss.class_weight.tolist()))

    trainer = pl.Trainer(max_epochs=4, limit_train_batches=1, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[Record()])
    trainer.fit(module, train_dataloaders=loader)
    assert [(epoch, weighted) for epoch, weighted, _ in seen] == [(0, False), (1, False), (2, True), (3, True)]
    assert seen[2][2] == pytest.approx([0.5, 1.5])  # 1/n normalised to sum to 2


def test_resample_draws_classes_equally() -> None:
    targets = np.repeat(np.arange(3), [900, 90, 10])
    arrays = ImageArrays(np.zeros((1000, 1, 1, 1), np.uint8), targets, ("a", "b", "c"),
                         Provenance.single("toy", np.arange(1000)))
    weights = sample_weights(targets, [900, 90, 10], "resample", 0.9999)
    loader = DeviceLoader(arrays, 100, Standardize(torch.zeros(1), torch.ones(1)), shuffle=True,
                          sample_weights=weights)
    drawn = torch.cat([y for _ in range(20) for _, y in loader])  # 20,000 draws: atol 0.02 is 6 sd
    assert np.allclose(torch.bincount(drawn).numpy() / len(drawn), 1 / 3, atol=0.02)


def test_crt_retrains_only_the_head_with_frozen_batchnorm(tmp_path: Path, base_model: Path) -> None:
    metrics = finetune(tmp_path, "crt", "mode=crt", f"init={base_model}", "optim.lr=0.5")
    assert metrics["rule"] == "resample" and metrics["class_sampling"] == pytest.approx([0.1] * 10)
    before = read_checkpoint(base_model)["state_dict"]
    after = read_checkpoint(metrics["model"])["state_dict"]
    for key in before:
        if key not in HEAD_KEYS:
            assert torch.equal(before[key], after[key]), key  # weights and BatchNorm statistics
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


def test_tau_norm_rescales_the_head(tmp_path: Path, base_model: Path) -> None:
    metrics = finetune(tmp_path, "tau1", "mode=tau_norm", "tau=1.0", f"init={base_model}")
    head = read_checkpoint(metrics["model"])["state_dict"]
    assert torch.allclose(head["fc.weight"].norm(dim=1), torch.ones(10), atol=1e-5)
    assert torch.equal(head["fc.bias"], torch.zeros(10))
    chosen = finetune(tmp_path, "tau_auto", "mode=tau_norm", "tau=null", f"init={base_model}")
    assert chosen["tau"] in TAU_GRID and chosen["best_val"] is not None
    from imbsemi.errors import ConfigError
    with pytest.raises(ConfigError, match="tau: null picks tau on the validation split"):
        finetune(tmp_path, "tau_no_val", "mode=tau_norm", "tau=null", "data.val_per_class=0", f"init={base_model}")


def test_ldam_trains_with_the_cosine_head(tmp_path: Path) -> None:
    metrics = finetune(tmp_path, "ldam", "loss.name=ldam", "rule.name=drw")
    payload = read_checkpoint(metrics["model"])
    assert payload["arch_kwargs"]["use_norm"] is True and len(payload["state_dict"]) == 187


def test_decoupled_modes_need_a_classifier(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from imbsemi.cli.finetune import main
    code = main(["--config", str(CONFIGS / "finetune/ce_digits.yaml"), f"out_dir={tmp_path}", "mode=crt"])
    assert code == 2 and "mode: crt needs init=PATH" in capsys.readouterr().err


def test_selection_window_last_epoch_and_test_curve(tmp_path: Path) -> None:
    """20 epochs: last_decay selects among epochs 18-19 (round(0.9 x 20) on), the last epoch is exported
    and reported too, and the test curve has a row every 10th epoch and every epoch from the last decay
    (18) on in the CSV log; with test_curve_every=1, every epoch (of 5)."""
    import csv

    metrics = finetune(tmp_path, "window", "epochs=20", "trainer.limit_train_batches=1")
    assert metrics["selection"] == "last_decay" and metrics["selected_epoch"] in (18, 19)
    assert read_checkpoint(tmp_path / "finetune" / "window" / "model_last.pt")["provenance"]["epoch"] == 19
    assert set(metrics["test_last"]) >= {"acc", "balanced_acc", "few"}
    assert 0 <= metrics["test_curve_best"]["epoch"] <= 19
    with open(tmp_path / "finetune" / "window" / "logs" / "metrics.csv") as handle:  # the tests after fit: epoch 20
        rows = [row for row in csv.DictReader(handle) if row.get("test/few") and int(row["epoch"]) < 20]
    assert [int(row["epoch"]) for row in rows] == [9, 18, 19]
    best = max(float(row["test/balanced_acc"]) for row in rows)
    assert best == pytest.approx(metrics["test_curve_best"]["balanced_acc"])
    finetune(tmp_path, "dense", "epochs=5", "trainer.limit_train_batches=1", "test_curve_every=1")
    with open(tmp_path / "finetune" / "dense" / "logs" / "metrics.csv") as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle) if row.get("test/few")][:-2] == list(range(5))
    last = finetune(tmp_path, "last", "epochs=3", "selection=last")
    assert last["selected_epoch"] == 2 and last["test"] == last["test_last"]


def test_selection_metric_selects_the_epoch_with_its_best_validation_value(tmp_path: Path) -> None:
    import csv

    metrics = finetune(tmp_path, "gmean", "epochs=4", "trainer.limit_train_batches=1", "selection=best",
                       "selection_metric=g_mean")
    with open(tmp_path / "finetune" / "gmean" / "logs" / "metrics.csv") as handle:
        rows = {int(row["epoch"]): row for row in csv.DictReader(handle) if row.get("val/g_mean")}
    assert sorted(rows) == [0, 1, 2, 3] and all(row["val/macro_f1"] for row in rows.values())
    g_means = {epoch: float(row["val/g_mean"]) for epoch, row in rows.items()}
    assert metrics["selection_metric"] == "g_mean" and metrics["best_val"] == pytest.approx(max(g_means.values()))
    assert g_means[metrics["selected_epoch"]] == pytest.approx(metrics["best_val"])
    assert {"macro_f1", "g_mean", "per_class_f1"} <= set(metrics["test"])
