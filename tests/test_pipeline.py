"""`imbsemi pipeline`: one config runs every stage; a second run reuses the finished stages."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CONFIGS
from imbsemi.cli.common import start_run
from imbsemi.cli.demo import run_pipeline
from imbsemi.config import PipelineConfig, load_config

TINY = ["ssp.epochs=1", "finetune.epochs=1", "trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "ssp.optim.batch_size=16", "finetune.optim.batch_size=16", "ssp.optim.warmup_epochs=0",
        "finetune.optim.warmup_epochs=0"]


def test_second_run_reuses_finished_stages(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}"])
    folder = start_run(config, "pipeline", "quickstart")
    first = run_pipeline(config, folder)
    assert "already done" not in capsys.readouterr().out
    (folder / "finetune" / "ce_pseudo" / "metrics.json").unlink()  # as if killed before it finished
    second = run_pipeline(config, folder)
    out = capsys.readouterr().out
    assert out.count("already done") == 4 and "finetune: test acc" in out  # only ce_pseudo ran again
    assert second["test"]["ce"] == first["test"]["ce"]
    assert second["test"]["ce+pseudo"]["acc"] == pytest.approx(first["test"]["ce+pseudo"]["acc"])
    from test_plots import assert_png
    assert_png(folder / "figures" / "per_class_vs_size.png")


def test_relabelling_rounds_chain_self_trained_labelers(tmp_path: Path) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", "rounds=2"])
    folder = start_run(config, "pipeline", "quickstart")
    metrics = run_pipeline(config, folder)
    from imbsemi.io import read_json
    second_labels = read_json(folder / "pseudolabel" / "from_ce_pseudo" / "pseudo_labels.json")
    assert second_labels["checkpoint"] == str(folder / "finetune" / "ce_pseudo" / "model.pt")
    round2 = read_json(folder / "finetune" / "ce_pseudo_round2" / "metrics.json")
    assert round2["pseudo_labels"] == str(folder / "pseudolabel" / "from_ce_pseudo" / "pseudo_labels.npz")
    assert metrics["test"]["ce+pseudo"] == round2["test"]
