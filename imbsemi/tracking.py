"""Run folders and loggers."""
from __future__ import annotations

from pathlib import Path

from pytorch_lightning.loggers import CSVLogger


def run_dir(out_dir: str, stage: str, name: str | None, config_stem: str, config_hash: str) -> Path:
    """``<out_dir>/<stage>/<name>``; the default name is ``<config file stem>-<hash[:8]>``."""
    return Path(out_dir) / stage / (name or f"{config_stem}-{config_hash[:8]}")


def make_loggers(folder: Path) -> list[CSVLogger]:
    """CSV metrics at ``<folder>/logs/metrics.csv`` (always on)."""
    return [CSVLogger(save_dir=str(folder), name="logs", version="")]
