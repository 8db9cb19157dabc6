"""The accelerator, precision and progress display of a run are decided in one place."""
from __future__ import annotations

import pytest
import torch

from imbsemi.accel import run_device, trainer_defaults
from imbsemi.errors import ConfigError


@pytest.fixture
def gpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_cpu_asked_on_a_gpu_machine_runs_fp32_on_cpu(gpu_machine: None) -> None:
    options = trainer_defaults({"accelerator": "cpu"})
    assert options["precision"] == "32-true" and options["deterministic"] == "warn" and "benchmark" not in options
    assert run_device({"accelerator": "cpu"}) == torch.device("cpu")


@pytest.mark.parametrize("trainer", [{}, {"accelerator": "auto"}, {"accelerator": "gpu"}, {"accelerator": "cuda"}])
def test_a_gpu_run_gets_bf16_and_cudnn_autotuning(gpu_machine: None, trainer: dict) -> None:
    options = trainer_defaults(trainer)
    assert options["precision"] == "bf16-mixed" and options["benchmark"] is True
    assert run_device(trainer) == torch.device("cuda")


def test_user_options_win_over_the_defaults(gpu_machine: None) -> None:
    options = trainer_defaults({"precision": "32-true", "enable_progress_bar": True})
    assert options["precision"] == "32-true" and options["enable_progress_bar"] is True


def test_gpu_asked_without_a_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="trainer.accelerator = 'gpu', but this machine has no CUDA GPU"):
        trainer_defaults({"accelerator": "gpu"})
    assert trainer_defaults({})["precision"] == "32-true"


def test_progress_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert trainer_defaults({})["enable_progress_bar"] is False
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert trainer_defaults({})["enable_progress_bar"] is True
