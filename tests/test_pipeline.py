"""`imbsemi pipeline`: one config runs every stage; a second run reuses the finished stages."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CONFIGS
from imbsemi.config import PipelineConfig
from imbsemi.config_files import load_config
from imbsemi.errors import ConfigError
from imbsemi.io import read_json
from imbsemi.stages import run_pipeline

TINY = ["ssp.epochs=1", "finetune.epochs=1", "trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "ssp.optim.batch_size=16", "finetune.optim.batch_size=16", "ssp.optim.warmup_epochs=0",
        "finetune.optim.warmup_epochs=0"]


def test_second_run_reuses_finished_stages(tmp_path: Path) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}"])
    first = run_pipeline(config)
    folder = first.folder
    assert not any(stage["reused"] for stage in first.metrics["stages"].values())
    for unfinished in (folder / "finetune" / "ce_pseudo", folder):  # as if killed before they finished
        (unfinished / "metrics.json").unlink()
    second = run_pipeline(config).metrics
    reused = {name for name, stage in second["stages"].items() if stage["reused"]}
    assert reused == {"ssp", "ce", "ce_ssp", "from_ce"} and second["stages"]["ce_pseudo"]["reused"] is False
    assert second["test"]["ce"] == first.metrics["test"]["ce"]
    assert second["test"]["ce+pseudo"] == first.metrics["test"]["ce+pseudo"]  # CPU runs are deterministic
    from test_plots import assert_png
    assert_png(folder / "figures" / "per_class_vs_size.png")
    (folder / "metrics.json").unlink()  # unfinished again: another config may not take its finished stages
    other = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", "seed=5"])
    with pytest.raises(ConfigError, match=f"run folder {folder} holds a run of another config"):
        run_pipeline(other, folder)
    assert (folder / "finetune" / "ce" / "metrics.json").is_file()


@pytest.mark.slow  # a pipeline with two labelling rounds, ~10 s
def test_relabelling_rounds_chain_self_trained_labelers(tmp_path: Path) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", "rounds=2"])
    result = run_pipeline(config)
    folder, metrics = result.folder, result.metrics
    second_labels = read_json(folder / "pseudolabel" / "from_ce_pseudo" / "pseudo_labels.json")
    assert second_labels["checkpoint"] == str(folder / "finetune" / "ce_pseudo" / "model.pt")
    round2 = read_json(folder / "finetune" / "ce_pseudo_round2" / "metrics.json")
    assert round2["pseudo_labels"] == str(folder / "pseudolabel" / "from_ce_pseudo" / "pseudo_labels.npz")
    assert metrics["test"]["ce+pseudo"] == round2["test"]
