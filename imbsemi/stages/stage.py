"""What a stage is (its declaration in the ``STAGES`` table) and what a stage run returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from imbsemi.config import CommonConfig

if TYPE_CHECKING:
    from imbsemi.stages.run import StageRun
    from imbsemi.tracking import Tracker


@dataclass(frozen=True)
class StageResult:
    """What a stage run produced.

    Attributes:
        folder: the run folder.
        metrics: the content of ``folder/metrics.json``.
        paths: the files the stage made, by role (e.g. ``model``, ``backbone``, ``pseudo_labels``).
        reused: True when a finished run with the same config was found and nothing was trained.
    """
    folder: Path
    metrics: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    reused: bool = False


@dataclass(frozen=True)
class Stage:
    """One stage, as everything that runs, chains, sweeps, loads or reports stages reads it.

    Attributes:
        name: the run folders' stage name (``<out_dir>/<name>/<run>``) and the job kind.
        config: the config schema; its ``inert_keys`` are the keys this stage never reads.
        body: ``body(run, tracker) -> metrics``: does the work in the claimed, seeded ``run.folder``
            and returns what goes into ``metrics.json`` (written by the frame, with the outputs' sha256).
        outputs: role -> file in the run folder, the main output first (roles absent from a run, e.g.
            ``model_last`` of tau_norm, are left out of its result).
        inputs: config key naming an input file -> the output roles of other stages it takes (how a
            pipeline variant chains a stage after another).
        required: the ``inputs`` the stage cannot run without.
        prefix: the tracking prefix of the run's metrics, from its config.
        description: one line for ``imbsemi --help``.
        summary: ``summary(config, result)``, the result line the command prints.
        check: ``check(config)`` raises ConfigError for a config the stage cannot run, before anything
            runs (also for every point of a sweep before the first runs).
        command: the name on the command line, if not ``name``.
    """
    name: str
    config: type[CommonConfig]
    body: Callable[[StageRun, Tracker], dict[str, Any]]
    outputs: Mapping[str, str]
    inputs: Mapping[str, tuple[str, ...]]
    prefix: Callable[[Any], str]
    description: str
    summary: Callable[[Any, StageResult], str]
    required: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = None
    command: str = ""

    @property
    def main_output(self) -> tuple[str, str]:
        """(role, file) of the stage's main output."""
        return next(iter(self.outputs.items()))

    @property
    def command_name(self) -> str:
        """The stage's name on the command line."""
        return self.command or self.name
