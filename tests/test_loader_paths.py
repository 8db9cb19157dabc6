"""The device-resident fast path and the classic DataLoader path train equally well."""
from __future__ import annotations

from pathlib import Path

from imbsemi.cli.common import start_run
from imbsemi.cli.finetune import run_finetune
from imbsemi.config import FinetuneConfig, load_config

from conftest import CONFIGS


def test_fast_and_classic_paths_reach_the_same_accuracy(tmp_path: Path) -> None:
    """Same seed and recipe on digits-LT; the two paths draw different random augmentations, so
    they agree within noise: seed-to-seed std of test accuracy is ~0.02, tolerance 0.06 (~2 sigma
    of a difference of two runs)."""
    accuracy = {}
    for loader in ("device", "torch"):
        config = load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                             [f"out_dir={tmp_path}", f"data.loader={loader}", "data.workers=2",
                              "trainer.enable_progress_bar=false"])
        accuracy[loader] = run_finetune(config, start_run(config, "finetune", loader))["test"]["acc"]
    assert min(accuracy.values()) >= 0.8
    assert abs(accuracy["device"] - accuracy["torch"]) <= 0.06, accuracy
