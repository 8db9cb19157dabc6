"""`imbsemi pipeline`: one config runs every stage; a second run reuses the finished stages."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, FAST
from imbsemi.config import FinetuneConfig, PipelineConfig, PseudolabelConfig
from imbsemi.config_files import load_config
from imbsemi.errors import ConfigError
from imbsemi.io import read_json
from imbsemi.stages import run_finetune, run_pipeline, run_pseudolabel

TINY = ["ssp.epochs=1", "finetune.epochs=1", "trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "ssp.optim.batch_size=16", "finetune.optim.batch_size=16", "ssp.optim.warmup_epochs=0",
        "finetune.optim.warmup_epochs=0"]


def test_second_run_reuses_finished_stages(tmp_path: Path) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}"])
    first = run_pipeline(config)
    folder = first.folder
    assert not any(stage["reused"] for stage in first.metrics["stages"].values())
    for unfinished in (folder / "finetune" / "ce+pseudo", folder):  # as if killed before they finished
        (unfinished / "done.json").unlink()
    second = run_pipeline(config).metrics
    reused = {name for name, stage in second["stages"].items() if stage["reused"]}
    assert reused == {"ce+ssp.ssp", "ce", "ce+ssp", "ce+pseudo.pseudolabel"}
    assert second["stages"]["ce+pseudo"]["reused"] is False
    assert second["test"]["ce"] == first.metrics["test"]["ce"]
    assert second["test"]["ce+pseudo"] == first.metrics["test"]["ce+pseudo"]  # CPU runs are deterministic
    from test_plots import assert_png
    assert_png(folder / "figures" / "per_class_vs_size.png")
    (folder / "done.json").unlink()  # unfinished again: another config may not take its finished stages
    other = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", "seed=5"])
    with pytest.raises(ConfigError, match=f"run folder {folder} holds a run of another config"):
        run_pipeline(other, folder)
    assert (folder / "finetune" / "ce" / "metrics.json").is_file()


@pytest.mark.slow  # a pipeline with two labelling rounds, ~10 s
def test_relabelling_rounds_chain_self_trained_labelers(tmp_path: Path) -> None:
    rounds = "variants={ce: [finetune], ce+pseudo: [finetune, pseudolabel, selftrain, pseudolabel, selftrain]}"
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", rounds])
    result = run_pipeline(config)
    folder, metrics = result.folder, result.metrics
    assert metrics["variants"]["ce+pseudo"] == ["ce", "ce+pseudo.pseudolabel", "ce+pseudo.selftrain",
                                                "ce+pseudo.pseudolabel.3", "ce+pseudo"]
    second_labels = read_json(folder / "pseudolabel" / "ce+pseudo.pseudolabel.3" / "pseudo_labels.json")
    assert second_labels["checkpoint"] == str(folder / "finetune" / "ce+pseudo.selftrain" / "model.pt")
    round2 = read_json(folder / "finetune" / "ce+pseudo" / "metrics.json")
    assert round2["pseudo_labels"] == str(folder / "pseudolabel" / "ce+pseudo.pseudolabel.3" / "pseudo_labels.npz")
    assert metrics["test"]["ce+pseudo"] == round2["test"] and list(metrics["test"]) == ["ce", "ce+pseudo"]


@pytest.mark.slow  # two pipelines and a recomputed stage each, ~11 s
def test_a_replaced_stage_output_is_computed_again_from_that_stage(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}"])
    first = run_pipeline(config)
    folder = first.folder
    labeler = folder / "finetune" / "ce" / "model.pt"
    labels = folder / "pseudolabel" / "ce+pseudo.pseudolabel" / "pseudo_labels.npz"
    for replaced, stage in ((labeler, "ce"), (labels, "ce+pseudo.pseudolabel")):
        original = replaced.read_bytes()
        if stage == "ce":  # another classifier
            shutil.copyfile(folder / "finetune" / "ce+ssp" / "model.pt", replaced)
        else:  # other labels in the same format
            with np.load(labels) as kept:
                np.savez(labels, labels=(kept["labels"] + 1) % 10, confidences=kept["confidences"])
        assert replaced.read_bytes() != original
        with caplog.at_level("INFO", logger="imbsemi"):
            second = run_pipeline(config)
        assert f"{replaced} (written by the run; changed since)" in caplog.text
        caplog.clear()
        computed = {name for name, run in second.metrics["stages"].items() if not run["reused"]}
        # CPU runs are deterministic: the stage writes the same file again, so the stages after it are reused
        assert computed == {stage} and replaced.read_bytes() == original
        assert second.metrics["test"] == first.metrics["test"]


def test_a_standalone_stage_refuses_a_finished_run_whose_files_changed(tmp_path: Path) -> None:
    common = [*FAST, f"out_dir={tmp_path}"]
    model = run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", [*common, "name=ce"]))
    labeling = load_config(PseudolabelConfig, CONFIGS / "pseudolabel/digits.yaml",
                           [f"out_dir={tmp_path}", "name=labels", f"checkpoint={model.paths['model']}"])
    labels = run_pseudolabel(labeling).paths["pseudo_labels"]
    labels.write_bytes(labels.read_bytes() + b"\0")  # an output changed
    with pytest.raises(ConfigError, match=f"holds a finished run whose files changed: {labels} \\(written by the run; "
                                          "changed since\\)"):
        run_pseudolabel(labeling)
    again = dataclasses.replace(labeling, name="again")
    assert not run_pseudolabel(again).reused and run_pseudolabel(again).reused
    model.paths["model"].write_bytes(model.paths["model"].read_bytes() + b"\0")  # its input changed
    with pytest.raises(ConfigError, match=f"holds a run of other input files \\(checkpoint = {model.paths['model']} "
                                          "changed since\\)"):
        run_pseudolabel(again)


def test_only_runs_the_named_variants_and_refuses_unknown_names() -> None:
    from imbsemi.stages.pipeline import pipeline_steps

    config = load_config(PipelineConfig, CONFIGS / "lt_ssl_digits.yaml", ["only=[ce+pseudo, fixmatch+acr]"])
    steps, chains = pipeline_steps(config)
    assert list(chains) == ["ce+pseudo", "fixmatch+acr"] and set(steps) == {
        "ce+pseudo.finetune", "ce+pseudo.pseudolabel", "ce+pseudo", "fixmatch+acr"}
    with pytest.raises(ConfigError, match=r"only: 'acr' is not a variant; variants: ce, ce\+pseudo, fixmatch"):
        pipeline_steps(load_config(PipelineConfig, CONFIGS / "lt_ssl_digits.yaml", ["only=[acr]"]))
