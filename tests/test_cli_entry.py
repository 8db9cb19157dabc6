"""The `imbsemi` dispatcher."""
from __future__ import annotations

import pytest

from imbsemi.cli.main import main


def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture) -> None:
    assert main(["train"]) == 2
    commands = ("finetune, ssp_pretrain, pseudolabel, semi, evaluate, pipeline, demo, sweep, sweep-report, pretrained, "
                "report, data, diagnose, config")
    assert f"unknown command 'train'; commands: {commands}" in capsys.readouterr().err


def test_help_lists_commands(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "pseudolabel" in out and "demo" in out
