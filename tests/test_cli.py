"""The command-line layer: help from the config schema, `config show`, data tools that take a config
of any stage, and the layering rule (only the CLIs import imbsemi.cli)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from imbsemi.cli import finetune, main as imbsemi_main, ssp_pretrain
from imbsemi.config import FinetuneConfig, SSPConfig
from imbsemi.dataclass_yaml import describe_schema


def help_text(main, argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["pipeline", "demo", "pseudolabel"])
def test_each_command_names_itself_in_its_usage(command: str, capsys: pytest.CaptureFixture) -> None:
    assert help_text(imbsemi_main.main, [command], capsys).startswith(f"usage: imbsemi {command} ")


def test_help_lists_every_config_key_from_the_schema(capsys: pytest.CaptureFixture) -> None:
    text = help_text(finetune.main, [], capsys)
    assert all(line in text for line in describe_schema(FinetuneConfig))
    assert re.search(r"\n  data\.rho +float +10\.0 +\S", text)
    ssp = help_text(ssp_pretrain.main, [], capsys)
    assert re.search(r"\n  knn\.every +int +10 +\S", ssp) and "loss.name" not in ssp
    assert len(describe_schema(SSPConfig)) > 30


def test_config_show_prints_the_resolved_config(capsys: pytest.CaptureFixture) -> None:
    assert imbsemi_main.main(["config", "show", "quickstart.yaml", "ssp.epochs=3", "--data.rho=20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# PipelineConfig from quickstart.yaml\n")
    shown = yaml.safe_load(out)
    assert shown["ssp"]["epochs"] == 3 and shown["data"]["rho"] == 20.0 and shown["data"]["n_max"] == 50
    assert shown["ssp"]["knn"] == {"every": 20, "k": 20, "t": 0.1, "layer": "layer2"}


@pytest.mark.parametrize("config", ["finetune/ce_digits.yaml", "ssp/rotation_digits.yaml", "pseudolabel/digits.yaml",
                                    "quickstart.yaml"])
def test_data_summary_takes_a_config_of_any_stage(config: str, capsys: pytest.CaptureFixture) -> None:
    assert imbsemi_main.main(["data", "summary", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "digits: rho=10 n_max=50 rho_u=1 relevance=1 seed=0"
    assert lines[-2].split()[:4] == ["total", "500", "100", "199"]


def test_stage_progress_is_one_line_per_epoch_without_a_terminal(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    assert finetune.main(["--config", "finetune/ce_digits.yaml", f"out_dir={tmp_path}", "epochs=2",
                          "trainer.limit_train_batches=1", "optim.warmup_epochs=0"]) == 0
    err = capsys.readouterr().err
    epochs = [re.match(r"finetune: epoch \d+/\d+", line) for line in err.splitlines() if " epoch " in line]
    assert [m.group() for m in epochs if m] == ["finetune: epoch 1/2", "finetune: epoch 2/2"] and all(epochs)


def test_only_the_command_line_layer_imports_imbsemi_cli() -> None:
    outside = [path for folder in ("imbsemi", "experiments", "data_prep") for path in (ROOT / folder).rglob("*.py")
               if "cli" not in path.relative_to(ROOT).parts and "imbsemi.cli" in path.read_text()]
    assert outside == []
    long_clis = {p.name: n for p in (ROOT / "imbsemi" / "cli").glob("*.py")
                 if (n := len(p.read_text().splitlines())) > 150}
    assert long_clis == {}
