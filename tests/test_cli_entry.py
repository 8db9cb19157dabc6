"""The `imbsemi` dispatcher."""
from __future__ import annotations

import pytest

from imbsemi.cli.main import main



def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture) -> None:
    assert main(["train"]) == 2
    commands = "pseudolabel, demo, pipeline, sweep, sweep-report, evaluate, pretrained, report, data"
    assert f"unknown command 'train'; commands: {commands}" in capsys.readouterr().err


def test_help_lists_commands(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "pseudolabel" in out and "demo" in out
