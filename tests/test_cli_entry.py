"""The `imbsemi` dispatcher and the data_prep summary script."""
from __future__ import annotations

import runpy

import pytest

from imbsemi.cli.main import main

from conftest import CONFIGS, ROOT


def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture) -> None:
    assert main(["train"]) == 2
    assert "unknown command 'train'; commands: pseudolabel, demo" in capsys.readouterr().err


def test_help_lists_commands(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "pseudolabel" in out and "demo" in out


def test_data_summary_prints_counts_and_relevance(capsys: pytest.CaptureFixture) -> None:
    summary = runpy.run_path(str(ROOT / "data_prep" / "summary.py"))
    assert summary["main"](["--config", str(CONFIGS / "finetune/ce_digits.yaml"), "data.pool.relevance=0.6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split() == ["total", "500", "100", "199", "350"]  # pool: 350 digits + 233 photos
    assert lines[-1] == "pool: 583 images, 233 irrelevant; realised relevance 0.600 (target 0.6)"
