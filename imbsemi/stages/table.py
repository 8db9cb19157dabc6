"""The table of stages: the one place a stage is registered. The command line, pipeline variants,
sweeps, jobs, reports and config loading all read it; a new stage is one entry here plus its module."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from imbsemi.config import CommonConfig
from imbsemi.config_files import load_any_config
from imbsemi.errors import ConfigError
from imbsemi.stages.evaluate import EVALUATE
from imbsemi.stages.finetune import FINETUNE
from imbsemi.stages.pipeline import PIPELINE
from imbsemi.stages.pseudolabel import PSEUDOLABEL
from imbsemi.stages.semi import SEMI
from imbsemi.stages.ssp import SSP
from imbsemi.stages.stage import Stage

# in the order a config file of unknown kind is tried (load_stage_config)
STAGES: dict[str, Stage] = {stage.name: stage for stage in (FINETUNE, SSP, PSEUDOLABEL, SEMI, EVALUATE, PIPELINE)}


def stage_named(name: str, what: str) -> Stage:
    """The stage called ``name`` (its table name or its command name); ``what`` names the asker in errors.

    Raises:
        ConfigError: no such stage, listing those there are.
    """
    for stage in STAGES.values():
        if name in (stage.name, stage.command_name):
            return stage
    raise ConfigError(f"{what}: unknown stage {name!r}; expected one of {', '.join(STAGES)}")


def load_stage_config(path: str | Path | None, overrides: Sequence[str] = ()) -> CommonConfig:
    """A config file of any stage: the first stage of ``STAGES`` whose schema takes every top-level key."""
    return load_any_config(path, overrides, {name: stage.config for name, stage in STAGES.items()})
