"""A new stage is one ``STAGES`` entry plus its function: it then runs from the command line, as a step of
a pipeline variant, in a sweep, and the reports table it, with no other table edited. Also: a pipeline
config with four variants, and malformed variants refused before anything runs."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from conftest import CONFIGS
from imbsemi.cli.main import main
from imbsemi.config import CommonConfig, PipelineConfig
from imbsemi.config_files import load_config
from imbsemi.dataclass_yaml import setting
from imbsemi.errors import ConfigError
from imbsemi.io import read_json, write_json
from imbsemi.metrics import classification_report
from imbsemi.stages import STAGES, Stage, run_pipeline
from imbsemi.stages.pipeline import pipeline_steps
from imbsemi.stages.run import StageRun
from imbsemi.sweeps.report import local_records, write_report
from imbsemi.sweeps.runner import run_sweep
from imbsemi.sweeps.spec import read_sweep
from imbsemi.tracking import Tracker

from test_pipeline import TINY


@dataclass(frozen=True)
class ToyConfig(CommonConfig):
    """`imbsemi toy`: one class predicted for every test image."""
    label: int | None = setting(None, "the class predicted (null: the labeled set's largest)")
    checkpoint: str | None = setting(None, "a classifier the run records (null: none)")


def toy_body(run: StageRun, _: Tracker) -> dict[str, Any]:
    splits = run.splits
    label = int(np.argmax(splits.counts)) if run.config.label is None else run.config.label
    predictions = torch.full((len(splits.test),), label)
    write_json(run.folder / "toy.json", {"label": label})
    return {"test": classification_report(predictions, torch.from_numpy(splits.test.targets), splits.counts),
            "checkpoint": run.config.checkpoint}


TOY = Stage("toy", ToyConfig, toy_body, outputs={"answer": "toy.json"}, inputs={"checkpoint": ("model",)},
            prefix=lambda config: "toy", description="toy --config FILE: one class for every test image",
            summary=lambda config, result: f"toy: balanced_acc={result.metrics['test']['balanced_acc']:.3f}")
TOY_VARIANTS = ["sections={always3: {stage: toy, label: 3}}", "variants={ce: [finetune], ce+toy: [finetune, always3]}"]


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Stage:
    monkeypatch.setitem(STAGES, "toy", TOY)
    return TOY


def test_a_new_stage_runs_from_the_command_line(toy: Stage, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "toy.yaml"
    config.write_text(f"base: {CONFIGS / 'digits_data.yaml'}\nlabel: 3\n")
    assert main(["toy", "--config", str(config), f"out_dir={tmp_path}"]) == 0
    assert capsys.readouterr().out.strip() == "toy: balanced_acc=0.100"  # one class of ten right
    assert main(["--help"]) == 0 and "one class for every test image" in capsys.readouterr().out
    folder = next((tmp_path / "toy").glob("toy-*"))
    assert read_json(folder / "toy.json") == {"label": 3} and "toy.json" in read_json(folder / "done.json")["outputs"]
    assert main(["toy", "--config", str(config), f"out_dir={tmp_path}", "label=12x"]) == 2
    assert "label = '12x' (str): expected int" in capsys.readouterr().err


def test_a_new_stage_is_a_step_of_a_pipeline_variant_and_the_report_tables_it(
        toy: Stage, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", *TOY_VARIANTS])
    result = run_pipeline(config)
    assert result.metrics["variants"] == {"ce": ["ce"], "ce+toy": ["ce", "ce+toy"]}
    assert result.metrics["test"]["ce+toy"]["balanced_acc"] == pytest.approx(0.1)
    step = read_json(result.folder / "toy" / "ce+toy" / "metrics.json")
    assert step["checkpoint"] == str(result.folder / "finetune" / "ce" / "model.pt")  # the chain feeds the model
    assert main(["report", str(result.folder)]) == 0
    table = capsys.readouterr().out
    assert f"| {result.folder.name}/ce | " in table and f"| {result.folder.name}/ce+toy | 10.0 | 10.0 |" in table


def test_a_new_stage_runs_in_sweeps_alone_and_in_a_pipeline(toy: Stage, tmp_path: Path) -> None:
    config = tmp_path / "toy.yaml"
    config.write_text(f"base: {CONFIGS / 'digits_data.yaml'}\n")
    alone = tmp_path / "alone.yaml"
    alone.write_text(yaml.safe_dump({"program": "imbsemi", "method": "grid",
                                     "parameters": {"label": {"values": [1, 2]}},
                                     "command": ["imbsemi", "toy", "--config", str(config), "${args}"]}))
    result = run_sweep(read_sweep(alone), tmp_path / "alone")
    assert result.ran == ["label=1", "label=2"] and run_sweep(read_sweep(alone), tmp_path / "alone").ran == []
    assert read_json(tmp_path / "alone/runs/toy/label=2/toy.json") == {"label": 2}

    piped = tmp_path / "piped.yaml"
    piped.write_text(yaml.safe_dump({
        "program": "imbsemi", "method": "grid", "parameters": {"seed": {"values": [0, 1]}},
        "command": ["imbsemi", "pipeline", "--config", "quickstart.yaml", *TINY, *TOY_VARIANTS, "${args}"]}))
    run_sweep(read_sweep(piped), tmp_path / "piped")
    swept, records = local_records(tmp_path / "piped")
    paths = write_report(tmp_path / "report", "toy", swept, records)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert float(rows[0]["ce+toy/balanced_acc_mean"]) == pytest.approx(10.0)
    assert "| seeds | ce bal. | ce+toy bal. |" in paths["markdown"].read_text()


FOUR = ["sections={ldam_drw: {stage: finetune, base: finetune, loss: {name: ldam}, rule: {name: drw}}}",
        "variants={ce: [finetune], ce+ssp: [ssp, finetune], ce+pseudo: [finetune, pseudolabel, selftrain], "
        "ldam_drw+pseudo: [ldam_drw, pseudolabel, ldam_drw]}"]


@pytest.mark.slow  # five training runs, ~15 s
def test_a_pipeline_with_four_variants_runs_and_the_report_tables_all_four(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [*TINY, f"out_dir={tmp_path}", *FOUR])
    result = run_pipeline(config)
    assert list(result.metrics["test"]) == ["ce", "ce+ssp", "ce+pseudo", "ldam_drw+pseudo"]
    chains = result.metrics["variants"]
    assert chains["ldam_drw+pseudo"] == ["ldam_drw+pseudo.ldam_drw", "ldam_drw+pseudo.pseudolabel", "ldam_drw+pseudo"]
    assert chains["ce+pseudo"][0] == "ce"  # shared with the ce variant: trained once
    assert len(result.metrics["stages"]) == 8  # ce once for the ce and ce+pseudo variants
    ldam = yaml.safe_load((result.folder / "finetune" / "ldam_drw+pseudo" / "config.yaml").read_text())
    assert (ldam["loss"]["name"], ldam["rule"]["name"], ldam["epochs"]) == ("ldam", "drw", 1)  # its base: finetune
    assert main(["report", str(result.folder)]) == 0
    table = capsys.readouterr().out
    assert all(f"| {result.folder.name}/{variant} | " in table for variant in result.metrics["test"])


@pytest.mark.parametrize("override, message", [
    ("variants={}", "variants: empty; give at least one"),
    ("variants={ce: finetune}", "variants.ce = 'finetune': expected a non-empty list of section names"),
    ("variants={ce: [finetun]}", "section 'finetun': not a section; expected one of ssp, finetune, pseudolabel, "
                                 "selftrain"),
    ("variants={x: [pseudolabel, ssp]}", "variants.x[1]: a ssp section cannot follow a pseudolabel section: it takes "
                                         "no pseudo_labels (its inputs: none)"),
    ("sections={a: {stage: finetune, base: b}, b: {stage: finetune, base: a}}",
     "sections.b.base = 'a': the bases loop (a -> b -> a)"),
])
def test_malformed_variants_are_refused_before_anything_runs(override: str, message: str, tmp_path: Path) -> None:
    extra = [override] if override.startswith("variants") else [override, "variants={v: [a]}"]
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [f"out_dir={tmp_path}", *extra])
    with pytest.raises(ConfigError, match=re.escape(message)):
        pipeline_steps(config)
    with pytest.raises(ConfigError):
        run_pipeline(config)
    assert not any(tmp_path.iterdir())  # checked before anything is written
