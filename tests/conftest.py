"""Shared fixtures: tiny configs on the embedded digits data; --runslow for end-to-end runs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from imbsemi.config_files import load_config

os.environ.setdefault("WANDB_MODE", "offline")
ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# A few steps per stage: 1 epoch of 2 batches at batch 16.
FAST = ["epochs=1", "trainer.limit_train_batches=2", "trainer.enable_progress_bar=false",
        "optim.batch_size=16", "optim.warmup_epochs=0"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture
def fast_config(tmp_path: Path):
    """Load a stage config from configs/ with few-step overrides and out_dir in tmp_path."""
    def load(cls, relative: str, *overrides: str):
        return load_config(cls, CONFIGS / relative, [*FAST, f"out_dir={tmp_path}", *overrides])
    return load
