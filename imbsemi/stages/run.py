"""A stage run resolved once from its config (hash, folder, input files' sha256, data splits), and its
life: the reuse check that proves a finished run's inputs and outputs, the folder's lock, the start and
completion records, tracking, and the stage's body run once in between."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only

from imbsemi.config import CommonConfig
from imbsemi.config_files import config_hash, save_config
from imbsemi.errors import ConfigError
from imbsemi.io import exclusive, library_versions, read_json, sha256_file, write_json
from imbsemi.released import PREFIX, resolve_checkpoint
from imbsemi.stages.build import Splits, make_splits
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.tracking import Tracker, run_dir, tracked

log = logging.getLogger("imbsemi")
START, DONE = "run.json", "done.json"  # written when a run starts, and last when it has finished
UNRECORDED = ("wandb", ".locks")  # folders others write into after a run (wandb sync) or around it


def run_folder(config: CommonConfig, stage: str, config_stem: str | None = None) -> Path:
    """``<out_dir>/<stage>/<name>``, by default ``<config_stem or stage>-<hash[:8]>``."""
    return run_dir(config.out_dir, stage, config.name, config_stem or stage, config_hash(config))


def input_files(stage: Stage, config: CommonConfig) -> dict[str, dict[str, str]]:
    """The input files ``config`` names (``stage.inputs`` keys that are set): key -> path and sha256.

    Raises:
        ConfigError: a named file does not exist, or a required input is not given.
    """
    files = {}
    for key in stage.inputs:
        value = getattr(config, key, None)
        if value is None and key in stage.required:
            doc = next(f.metadata.get("doc", "") for f in dataclasses.fields(config) if f.name == key)
            raise ConfigError(f"{key}: required by {stage.command_name}; give the {doc.removesuffix('; required')}")
        if value is None:
            continue
        if not str(value).startswith(PREFIX) and not Path(value).is_file():
            raise ConfigError(f"{key} = {value}: the file does not exist")
        path = resolve_checkpoint(value)
        files[key] = {"path": str(path), "sha256": sha256_file(path)}
    return files


def _changed(path: Path, digest: str | None, what: str) -> str | None:
    """``path`` with ``what`` it is and how it changed, unless its sha256 is still ``digest``."""
    if path.is_file() and sha256_file(path) == digest:
        return None
    return f"{path} ({what}; {'changed since' if path.is_file() else 'gone'})"


def changed_files(record: dict[str, Any], folder: Path, with_inputs: bool = True) -> list[str]:
    """What no longer matches a completion ``record`` of ``folder``: each output file (relative to the
    folder) and, ``with_inputs``, input file whose sha256 differs or that is gone, and the same of each
    part's record."""
    files = [(folder / relative, digest, "written by the run") for relative, digest in record["outputs"].items()]
    if with_inputs:
        files += [(Path(entry["path"]), entry["sha256"], f"its input {key}") for key, entry in record["inputs"].items()]
    changed = [found for found in (_changed(*file) for file in files) if found is not None]
    for part in map(Path, record.get("parts", [])):
        part_record = part / DONE
        changed += (changed_files(read_json(part_record), part) if part_record.is_file()
                    else [f"{part_record} (a stage run it is made of; gone)"])
    return changed


def written_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> digest), but the completion record, the
    folders in ``UNRECORDED`` and the runs nested in it (each proven by its own record)."""
    digests = {}
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if d not in UNRECORDED and not (here / d / START).is_file())
        for name in sorted(files):
            if here != folder or name != DONE:
                digests[str((here / name).relative_to(folder))] = sha256_file(here / name)
    return digests


@dataclass
class StageRun:
    """One run of ``stage`` with ``config`` in ``folder``, resolved once: the config hash, the input
    files (path, sha256), and the data splits (built when first used). The reuse check, the lock, the
    start and completion records and the stage's body all take this object.

    Attributes:
        parts: folders of the stage runs this run is made of (a pipeline's), proven with it on reuse.
    """
    stage: Stage
    config: CommonConfig
    folder: Path
    config_hash: str
    inputs: dict[str, dict[str, str]]
    parts: list[Path] = field(default_factory=list)

    @classmethod
    def resolve(cls, stage: Stage, config: CommonConfig, folder: Path | None = None,
                config_stem: str | None = None) -> StageRun:
        """The run of ``config`` in ``folder`` (default: ``run_folder(config, stage.name, config_stem)``)."""
        digest = config_hash(config)
        if folder is None:
            folder = run_dir(config.out_dir, stage.name, config.name, config_stem or stage.name, digest)
        return cls(stage, config, Path(folder), digest, input_files(stage, config))

    @cached_property
    def splits(self) -> Splits:
        """The data splits of the config (built once)."""
        return make_splits(self.config)

    @property
    def input_digests(self) -> dict[str, str]:
        return {key: entry["sha256"] for key, entry in self.inputs.items()}

    def result(self, metrics: dict[str, Any], reused: bool = False) -> StageResult:
        """The StageResult of this run: its metrics and the stage's outputs that exist, by role."""
        paths = {role: self.folder / name for role, name in self.stage.outputs.items()
                 if (self.folder / name).is_file()}
        return StageResult(self.folder, metrics, paths, reused)

    def _same_config(self, record: dict[str, Any]) -> bool:
        return record.get("config_hash") == self.config_hash and record.get("inputs") == self.input_digests

    def state(self) -> tuple[str, str]:
        """What the folder holds for this run, and why: ``empty``, ``unfinished`` (of this config and input
        files: it resumes; also a finished run made of stage runs when anything it proves changed: it runs
        again in place, its stage runs recompute what changed), ``finished`` (proven: same config, input
        files, outputs and data), ``stale`` (a finished run whose inputs, outputs or data changed since,
        naming them) or ``other`` (a run of another config or input files)."""
        start, done = self.folder / START, self.folder / DONE
        if not start.is_file():
            return "empty", ""
        record = read_json(start)
        if not self._same_config(record):
            changed = [f"{key} = {self.inputs[key]['path'] if key in self.inputs else None}"
                       for key in set(record.get("inputs", {})) | set(self.inputs)
                       if record.get("inputs", {}).get(key) != self.input_digests.get(key)]
            what = (f"a run of other input files ({', '.join(changed)} changed since)"
                    if record.get("config_hash") == self.config_hash else
                    f"a run of another config ({record.get('config_hash')}; this: {self.config_hash})")
            return "other", what
        if not done.is_file():
            return "unfinished", "an unfinished run of this config"
        completion = read_json(done)
        changed = changed_files(completion, self.folder, with_inputs=False)  # the inputs: compared just above
        why = f"a finished run whose files changed: {'; '.join(changed)}" if changed else (
            "" if self._data_unchanged() else
            f"a finished run of other data (the splits differ from {self.folder / 'data_manifest.json'})")
        if why and completion["parts"]:  # made of stage runs, which prove themselves when it runs again
            return "unfinished", why
        return ("stale", why) if why else ("finished", "a finished run of this config")

    def _data_unchanged(self) -> bool:
        """True unless the splits the config builds now differ from those recorded in the folder's
        data_manifest.json (counts, indices, targets, pixels): the data files changed under the run."""
        record = self.folder / "data_manifest.json"
        if not record.is_file():
            return True
        recorded = read_json(record)
        if "pool" in recorded:
            _ = self.splits.pool
        return json.loads(json.dumps(self.splits.manifest())) == recorded

    def start(self) -> None:
        """Create the folder, save the resolved config and the start record (config hash, input files'
        sha256, seed, library versions); seed everything."""
        self.folder.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.folder / "config.yaml")
        write_json(self.folder / START, {"stage": self.stage.name, "config_hash": self.config_hash,
                                         "inputs": self.input_digests, "seed": self.config.seed,
                                         "versions": library_versions()})
        pl.seed_everything(self.config.seed, workers=True, verbose=False)

    def complete(self, metrics: dict[str, Any]) -> None:
        """Write the data manifest (of the splits the body used) and ``metrics.json``, then the completion
        record: the sha256 of every file the run wrote, its input files and its parts. Under DDP only rank
        0 writes."""
        if rank_zero_only.rank != 0:
            return
        if "splits" in self.__dict__:  # the splits the body built, the pool too if it was drawn
            write_json(self.folder / "data_manifest.json", self.splits.manifest())
        write_json(self.folder / "metrics.json", metrics)
        write_json(self.folder / DONE, {"config_hash": self.config_hash, "inputs": self.inputs,
                                        "parts": [str(part) for part in self.parts],
                                        "outputs": written_files(self.folder)})

    def claim(self, wait: bool) -> ExitStack:
        """Hold the folder's lock (beside it) until the returned stack closes; ``wait`` for another
        process that holds it, else fail.

        Raises:
            ConfigError: the folder cannot be created, or (not ``wait``) another process holds it.
        """
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"out_dir = {self.config.out_dir}: cannot create the run folder {self.folder} "
                              f"({err.strerror})") from err
        if not os.access(self.folder.parent, os.W_OK):
            raise ConfigError(f"out_dir = {self.config.out_dir}: {self.folder.parent} is not writable")
        lock = self.folder.parent / ".locks" / f"{self.folder.name}.run"
        stack = ExitStack()
        try:
            stack.enter_context(exclusive(lock, wait=wait))
        except BlockingIOError as err:
            raise ConfigError(f"run folder {self.folder} is in use by another process (it holds {lock}); wait for "
                              "it to end or give another name=") from err
        return stack


def run_stage(stage: Stage, config: CommonConfig, folder: Path | None = None, tracker: Tracker | None = None,
              recompute: bool = False, config_stem: str | None = None) -> StageResult:
    """Run ``stage`` with ``config`` in ``folder`` (default: ``run_folder`` with ``config_stem``), or reuse
    its finished run.

    The folder's finished run of this config is reused when its input files, every file it wrote and
    its data are unchanged (its metrics then go to ``tracker``); an unfinished one resumes from its last
    checkpoint. A folder holding anything else is an error naming what differs, unless ``recompute``
    (a pipeline's stages: wait for another process running it, then replace what is stale) or
    ``config.overwrite``. Tracking goes to ``tracker`` or, None, to a run of the stage's own.

    Raises:
        ConfigError: see above; an input file the config names does not exist.
    """
    run = StageRun.resolve(stage, config, folder, config_stem)
    if stage.check is not None:
        stage.check(config)
    if rank_zero_only.rank != 0:  # under DDP the other ranks only train; rank 0 decided and records
        pl.seed_everything(config.seed, workers=True, verbose=False)
        return run.result(stage.body(run, tracker or Tracker(None)))
    with run.claim(wait=recompute):
        state, why = run.state()
        if state == "finished" and not config.overwrite:
            log.info("%s: %s already holds this config's finished run; reusing it", stage.name, run.folder)
            result = run.result(read_json(run.folder / "metrics.json"), reused=True)
            if tracker is not None:
                tracker.log_stage(result.folder, result.metrics)
            return result
        if state in ("stale", "other") or (state != "empty" and config.overwrite):
            # an unfinished run of another config that saved no checkpoint has nothing to lose (a pipeline's
            # checkpoints are in its stages' folders)
            disposable = not (run.folder / DONE).is_file() and not any(run.folder.rglob("*.ckpt"))
            if not (config.overwrite or recompute or disposable):
                raise ConfigError(f"run folder {run.folder} holds {why}; give another name= or overwrite=true to "
                                  "start over (an unfinished run of the same config resumes by itself)")
            log.info("%s: %s holds %s: computing it again", stage.name, run.folder, why)
            shutil.rmtree(run.folder)
        if state == "unfinished" and (run.folder / DONE).is_file():  # made of stage runs, one of which changed
            log.info("%s: %s holds %s: running it again", stage.name, run.folder, why)
            (run.folder / DONE).unlink()  # finished again only when it completes
        run.start()
        with tracked(config, run.folder, tracker, stage.prefix(config)) as track:
            metrics = stage.body(run, track)
            run.complete(metrics)
            result = run.result(metrics)
            track.log_stage(run.folder, metrics)
    return result


def finished(stage: Stage, config: CommonConfig, folder: Path | None = None) -> bool:
    """True when ``folder`` (default: ``run_folder``) holds the proven finished run of ``config``."""
    return StageRun.resolve(stage, config, folder).state()[0] == "finished"

