"""A sweep file run locally: every point checked before the first run, stages shared between points
run once, finished points skipped, points in parallel processes.

Layout of the sweep folder (default ``<out_dir>/sweeps/<file stem>``): ``runs/<command>/<label>/`` per
point (its config, metrics, ``summary.json`` and ``point.json``: the values and flags) and
``stages/`` with the stage runs the points share, found by config hash.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

from imbsemi.config import CommonConfig
from imbsemi.config_files import config_hash, load_config
from imbsemi.errors import ConfigError, DataError
from imbsemi.io import write_json
from imbsemi.stages.build import make_splits
from imbsemi.stages.jobs import worker_setup
from imbsemi.stages.run import finished, run_stage
from imbsemi.stages.stage import Stage
from imbsemi.stages.table import stage_named
from imbsemi.sweeps.spec import Sweep, SweepPoint
from imbsemi.tracking import named_by_overrides

log = logging.getLogger("imbsemi")


@dataclass(frozen=True)
class PlannedRun:
    """A point of the sweep with its resolved config, run folder and whether it already finished."""
    point: SweepPoint
    config: CommonConfig
    folder: Path
    done: bool


@dataclass(frozen=True)
class SweepResult:
    """The sweep folder and the labels of the points run and of those skipped as finished."""
    folder: Path
    ran: list[str]
    skipped: list[str]


def sweep_folder(sweep: Sweep, out: Path | None = None) -> Path:
    """``out``, else ``<out_dir of the sweep's config>/sweeps/<file stem>``."""
    if out is not None:
        return Path(out)
    return Path(load_config(_stage(sweep).config, sweep.config, sweep.fixed).out_dir) / "sweeps" / sweep.name


def plan_sweep(sweep: Sweep, out: Path | None = None, count: int | None = None, seed: int = 0) -> list[PlannedRun]:
    """Resolve and check every point before anything runs.

    Raises:
        ConfigError: a parameter that is not a config key, or a value out of range (naming the
            parameter and value); a combination of values that is not a valid config (naming the point).
        DataError: a point whose unlabeled pool cannot be drawn (class, requested and available counts).
    """
    stage = check_parameters(sweep)
    folder = sweep_folder(sweep, out)
    points = sweep.points(count, seed)
    if sweep.method == "random":  # draws may repeat: number the points
        points = [dataclasses.replace(p, label=f"{i:03d}-{p.label}") for i, p in enumerate(points)]
    planned = []
    for point in points:
        config = _load(sweep, stage.config, point.flags, f"point {point.label}")
        # overwrite: a point's folder holds only its summary (stage runs are in stages/), so one left by
        # another version of the sweep file is replaced
        config = dataclasses.replace(named_by_overrides(config, point.flags), out_dir=str(folder / "runs"),
                                     name=point.label, overwrite=True)
        if hasattr(config, "shared_stages"):
            config = dataclasses.replace(config, shared_stages=str(folder / "stages"))
        if stage.check is not None:
            _checked(sweep, point, stage.check, config)
        run = folder / "runs" / stage.name / point.label
        planned.append(PlannedRun(point, config, run, finished(stage, config, run)))
    for run in planned:
        if not run.done and "data.pool" not in run.config.inert_keys():
            _check_pool(sweep, run)
    return planned


def check_parameters(sweep: Sweep) -> Stage:
    """Check each value of each parameter (``min`` and ``max`` of a range) alone on the sweep's command
    config; returns the command's stage.

    Raises:
        ConfigError: a command the local runner cannot run, a parameter that is not a config key, or a
            value out of range, naming the parameter and the value.
    """
    stage = _stage(sweep)
    for name, spec in sweep.parameters.items():
        candidates = [spec["value"]] if "value" in spec else spec.get("values") or [spec["min"], spec["max"]]
        for value in candidates:
            _load(sweep, stage.config, sweep.point({name: value}).flags, f"parameter {name} = {value!r}")
    return stage


def run_sweep(sweep: Sweep, out: Path | None = None, jobs: int = 1, count: int | None = None,
              seed: int = 0) -> SweepResult:
    """Run the points of ``sweep`` not finished yet (``jobs`` at a time, each in its own process with
    its share of the CPU threads). A pipeline sweep keeps its stage runs in ``stages/``, so a stage
    that no swept value changes (e.g. SSP and the base classifier per seed) runs once."""
    planned = plan_sweep(sweep, out, count, seed)
    folder = sweep_folder(sweep, out)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sweep.path, folder / "sweep.yaml")
    write_json(folder / "plan.json", [{"label": r.point.label, "values": r.point.values, "flags": r.point.flags,
                                       "folder": str(r.folder), "config_hash": config_hash(r.config)}
                                      for r in planned])
    todo = [r for r in planned if not r.done]
    skipped = [r.point.label for r in planned if r.done]
    log.info("sweep %s: %d points, %d finished, %d to run (%d at a time)", sweep.name, len(planned),
             len(skipped), len(todo), jobs)
    tasks = [(sweep.subcommand, r.config, r.folder, r.point) for r in todo]
    if jobs == 1:
        for task in tasks:
            run_point(*task)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=worker_setup,
                                 initargs=(threads,)) as pool:
            for future in [pool.submit(run_point, *task) for task in tasks]:
                future.result()
    return SweepResult(folder, [r.point.label for r in todo], skipped)


def run_point(command: str, config: CommonConfig, folder: Path, point: SweepPoint) -> None:
    """Run one point of the sweep's ``command`` into ``folder``; then write ``point.json`` there (its
    values and flags)."""
    log.info("sweep: running %s", point.label)
    run_stage(stage_named(command, "sweep"), config, folder)
    write_json(folder / "point.json", {"label": point.label, "values": point.values, "flags": point.flags})


def _stage(sweep: Sweep) -> Stage:
    try:
        return stage_named(sweep.subcommand, f"sweep {sweep.path}: command runs `imbsemi {sweep.subcommand}`")
    except ConfigError as err:
        raise ConfigError(f"{err}; the local runner runs any of them") from err


def _checked(sweep: Sweep, point: SweepPoint, check: Callable[[Any], Any], config: CommonConfig) -> None:
    try:
        check(config)
    except ConfigError as err:
        raise ConfigError(f"sweep {sweep.path}: point {point.label}: {err}") from err


def _load(sweep: Sweep, cls: type[CommonConfig], flags: list[str], what: str) -> CommonConfig:
    """The config of the command with ``flags`` after its own overrides; errors name ``what``."""
    try:
        return load_config(cls, sweep.config, [*sweep.fixed, *flags])
    except ConfigError as err:
        raise ConfigError(f"sweep {sweep.path}: {what}: {err}") from err


def _check_pool(sweep: Sweep, run: PlannedRun) -> None:
    """Draw the point's pool (cheap next to training) so that a shortage is reported before any run."""
    try:
        make_splits(run.config).pool
    except DataError as err:
        raise DataError(f"sweep {sweep.path}: point {run.point.label}: {err}") from err

