"""What every stage shares: the result object, the run folder, seeding, the Trainer, data and model
building, and the exported model file."""
from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import MisconfigurationException
import torch
from torch import nn

from imbsemi.accel import trainer_defaults
from imbsemi.checkpoints import save_model
from imbsemi.config import CommonConfig
from imbsemi.config_files import config_hash, save_config
from imbsemi.data.file_sources import FILE_SOURCES
from imbsemi.data.file_splits import FileSplits
from imbsemi.data.splits import LTSplits
from imbsemi.errors import ConfigError
from imbsemi.io import exclusive, library_versions, read_json, sha256_file, write_json
from imbsemi.models import MODELS
from imbsemi.registry import build
from imbsemi.released import PREFIX, resolve_checkpoint
from imbsemi.resume import AtomicCheckpointIO, CheckpointRoom, ResumeState, checkpoint_epoch, last_checkpoint
from imbsemi.tracking import EpochLine, Tracker, run_dir, tracked

log = logging.getLogger("imbsemi")


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


def run_folder(config: CommonConfig, stage: str, config_stem: str | None = None) -> Path:
    """``<out_dir>/<stage>/<name>``, by default ``<config_stem or stage>-<hash[:8]>``."""
    return run_dir(config.out_dir, stage, config.name, config_stem or stage, config_hash(config))


# stage -> (result role, file) of its main output
OUTPUTS = {"ssp": ("backbone", "backbone.pt"), "finetune": ("model", "model.pt"),
           "pseudolabel": ("pseudo_labels", "pseudo_labels.npz"), "evaluate": ("metrics", "metrics.json"),
           "pipeline": ("summary", "summary.json")}
INPUT_KEYS = ("init", "pseudo_labels", "checkpoint")  # config keys naming input files


def input_digests(config: CommonConfig) -> dict[str, str]:
    """sha256 of each input file the config names (init, pseudo_labels, checkpoint), by key.

    Raises:
        ConfigError: a named file does not exist.
    """
    digests = {}
    for key in INPUT_KEYS:
        value = getattr(config, key, None)
        if value is None:
            continue
        if not str(value).startswith(PREFIX) and not Path(value).is_file():
            raise ConfigError(f"{key} = {value}: the file does not exist")
        digests[key] = sha256_file(resolve_checkpoint(value))
    return digests


def _same_run(record: dict[str, Any], digest: str, inputs: dict[str, str]) -> bool:
    """True when a run.json ``record`` is of the config with hash ``digest`` and these input sha256s."""
    return record["config_hash"] == digest and record.get("inputs", {}) == inputs


def _holds_run_of(folder: Path, config: CommonConfig, finished: bool) -> bool:
    """True when ``folder`` records a run of ``config`` and its input files that has (``finished``) or has
    not yet written metrics.json, which is written last."""
    record = folder / "run.json"
    if not record.is_file() or (folder / "metrics.json").is_file() != finished:
        return False
    return _same_run(read_json(record), config_hash(config), input_digests(config))


def completed(folder: Path, config: CommonConfig) -> bool:
    """True when ``folder`` holds a finished run of ``config`` with the same input files (their sha256
    as recorded when the run started) and the same data (``data_unchanged``)."""
    return _holds_run_of(folder, config, finished=True) and data_unchanged(folder, config)


def data_unchanged(folder: Path, config: CommonConfig) -> bool:
    """True unless the splits ``config`` builds now differ from those recorded in ``folder``'s
    data_manifest.json (counts, indices, targets, pixels): the data files changed under the run."""
    record = folder / "data_manifest.json"
    if not record.is_file():
        return True
    recorded, splits = read_json(record), make_splits(config)
    if "pool" in recorded:
        _ = splits.pool
    if json.loads(json.dumps(splits.manifest())) == recorded:
        return True
    log.warning("the data of %s differ from the splits its config builds now (%s): its run is not reused",
                folder, record)
    return False


def finished_run(config: CommonConfig, stage: str, folder: Path | None = None) -> StageResult | None:
    """The result of a finished run of ``config`` in ``folder`` (default: ``run_folder``), else None."""
    folder = run_folder(config, stage) if folder is None else Path(folder)
    if not completed(folder, config):
        return None
    log.info("%s: %s already holds this config's finished run; reusing it", stage, folder)
    role, file = OUTPUTS[stage]
    return StageResult(folder, read_json(folder / "metrics.json"), {role: folder / file}, reused=True)


def start_run(config: CommonConfig, stage: str, folder: Path | None = None) -> Path:
    """Create the run folder (default: ``run_folder``), save the resolved config, its hash, the input
    files' sha256 and library versions; seed everything. Returns the folder.

    An unfinished run of the same config and inputs there is kept, to be resumed from its last
    checkpoint; a run that stopped before saving any checkpoint (nothing to lose) is replaced; anything
    else there is removed first with ``overwrite``.

    Raises:
        ConfigError: the folder holds a run of another config or inputs (or a finished run) and
            ``overwrite`` is false.
    """
    folder = run_folder(config, stage) if folder is None else Path(folder)
    digest, inputs = config_hash(config), input_digests(config)
    record = folder / "run.json"
    if record.is_file():
        previous = read_json(record)
        same = _same_run(previous, digest, inputs)
        finished = (folder / "metrics.json").is_file()
        trained = finished or any(folder.rglob("*.ckpt"))  # a pipeline's are in its stages' folders
        if config.overwrite or (not same and not trained):
            shutil.rmtree(folder)
        elif not same or finished:
            what = "a finished run" if same else f"a run of another config ({previous['config_hash']}; this: {digest})"
            raise ConfigError(f"run folder {folder} holds {what}; give another name= or overwrite=true to start over "
                              "(an unfinished run of the same config resumes by itself)")
    folder.mkdir(parents=True, exist_ok=True)
    save_config(config, folder / "config.yaml")
    write_json(record, {"stage": stage, "config_hash": digest, "inputs": inputs, "seed": config.seed,
                        "versions": library_versions()})
    pl.seed_everything(config.seed, workers=True, verbose=False)
    return folder


@contextmanager
def stage_run(config: CommonConfig, stage: str, folder: Path | None = None) -> Iterator[Path]:
    """Claim the run folder (default: ``run_folder``) for this process and ``start_run`` in it; the
    claim lasts for the block. Under DDP, the processes Lightning launches for the other ranks only
    seed: rank 0 claims and records the folder.

    Raises:
        ConfigError: another process is running in that folder.
    """
    folder = run_folder(config, stage) if folder is None else Path(folder)
    if rank_zero_only.rank != 0:
        pl.seed_everything(config.seed, workers=True, verbose=False)
        yield folder
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"out_dir = {config.out_dir}: cannot create the run folder {folder} "
                          f"({err.strerror})") from err
    if not os.access(folder.parent, os.W_OK):
        raise ConfigError(f"out_dir = {config.out_dir}: {folder.parent} is not writable")
    lock = folder.parent / ".locks" / f"{folder.name}.run"
    with ExitStack() as claim:
        try:
            claim.enter_context(exclusive(lock, wait=False))
        except BlockingIOError as err:
            raise ConfigError(f"run folder {folder} is in use by another process (it holds {lock}); wait for it to "
                              "end or give another name=") from err
        yield start_run(config, stage, folder)


def resumable(folder: Path, config: CommonConfig) -> bool:
    """True when ``folder`` holds an unfinished run of ``config`` with the same input files."""
    return _holds_run_of(folder, config, finished=False)


def run_stage(config: CommonConfig, stage: str, folder: Path | None, tracker: Tracker | None, prefix: str,
              body: Callable[[Path, Tracker], StageResult]) -> StageResult:
    """The frame of every stage: the finished run of this config and inputs is reused (unless
    ``overwrite``); else the folder is claimed, the run started or resumed, tracking opened under
    ``prefix`` (``tracker``, or a wandb run of its own), ``body(folder, tracker)`` run and its result's
    summary and figures logged."""
    done = finished_run(config, stage, folder)
    if done is not None and not config.overwrite:
        return done
    with stage_run(config, stage, folder) as folder, tracked(config, folder, tracker, prefix) as track:
        result = body(folder, track)
        track.log_stage(folder, result.metrics)
    return result


def resume_from(folder: Path, stage: str) -> Path | None:
    """The last checkpoint of an unfinished earlier run of this config in ``folder`` (logged), else None."""
    path = last_checkpoint(folder)
    if path is not None:
        log.info("%s: resuming the unfinished run in %s from %s", stage, folder, path)
    return path


def make_trainer(config: CommonConfig, folder: Path, stage: str, epochs: int, monitor: str | None,
                 callbacks: Sequence[pl.Callback] = (), tracker: Tracker | None = None) -> pl.Trainer:
    """A Lightning Trainer writing to ``folder``: CSV logs (and the ``tracker``'s wandb run under its
    prefix), last + best (max ``monitor``) checkpoints;
    with no ``monitor`` (no validation split) the "best" checkpoint is the last epoch's. Device,
    precision and progress display come from ``accel.trainer_defaults``."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)  # tips, device info
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    # contrastive SSL methods have no validation_step: their kNN monitor is a callback
    warnings.filterwarnings("ignore", ".*val_dataloader` but have no `validation_step.*")
    # the first ModelCheckpoint is the selection ("best"); the second keeps every epoch's end for resuming
    warnings.filterwarnings("ignore", ".*configured with multiple `ModelCheckpoint` callbacks.*")
    # litdata's StreamingDataset has a length and splits its chunks over workers and ranks itself
    warnings.filterwarnings("ignore", ".*Your `IterableDataset` has `__len__` defined.*")
    checkpoints = folder / "checkpoints"
    best = pl.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=monitor,
                                        mode="max", enable_version_counter=False)
    # every epoch's end, for resuming (ModelCheckpoint's save_last only follows the "best" saves)
    last = pl.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None,
                                        enable_version_counter=False)
    options = trainer_defaults(config.trainer)
    progress = [] if options["enable_progress_bar"] else [EpochLine(stage)]
    resume = last_checkpoint(folder)
    # a run that stopped before its first checkpoint starts again: its CSV log is replaced
    warnings.filterwarnings("ignore", ".*Experiment logs directory .* exists and is not empty.*")
    if resume is not None:  # a resumed run finds its own checkpoints, and keeps them
        warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
    loggers = (tracker or Tracker(None)).loggers(folder, None if resume is None else checkpoint_epoch(resume))
    try:
        return pl.Trainer(max_epochs=epochs, default_root_dir=folder, logger=loggers, plugins=[AtomicCheckpointIO()],
                          callbacks=[*callbacks, CheckpointRoom(checkpoints), ResumeState(), best, last, *progress],
                          **options)
    except MisconfigurationException as err:
        raise ConfigError(f"trainer: {err}") from err


def make_splits(config: CommonConfig) -> LTSplits | FileSplits:
    """The splits of ``config.data`` for ``config.seed``: drawn from a source (LTSplits) or, for a
    split-file dataset, as its files define them (FileSplits)."""
    if config.data.source in FILE_SOURCES:
        return FileSplits(config.data, config.seed)
    return LTSplits(config.data, config.seed)


@rank_zero_only
def save_manifest(folder: Path, splits: LTSplits | FileSplits) -> None:
    """Write ``folder/data_manifest.json``: per-class counts and index hashes of the splits built."""
    write_json(folder / "data_manifest.json", splits.manifest())


def fixed_model_kwargs(splits: LTSplits, num_classes: int) -> dict[str, Any]:
    """Architecture kwargs the data decides: output classes and input channels."""
    return {"num_classes": num_classes, "in_channels": splits.labeled.image_shape[-1]}


def make_model(config: CommonConfig, splits: LTSplits, num_classes: int) -> nn.Module:
    """A fresh ``config.model.arch`` network for this data, with the user's ``model.kwargs``."""
    return build(MODELS, config.model.arch, config.model.kwargs, "model.arch",
                 **fixed_model_kwargs(splits, num_classes))


def best_score(trainer: pl.Trainer) -> float | None:
    """The monitored validation metric of the selected checkpoint (None without a validation split)."""
    score = trainer.checkpoint_callback.best_model_score
    return None if score is None else float(score)


def restore_best(module: pl.LightningModule, trainer: pl.Trainer) -> str:
    """Load the best (by the monitored validation metric) weights into ``module``; return their path."""
    path = trainer.checkpoint_callback.best_model_path
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"])
    return path


@rank_zero_only
def export_model(path: Path, model: nn.Module, kind: str, config: CommonConfig, splits: LTSplits | FileSplits,
                 provenance: dict[str, Any]) -> None:
    """Save ``model`` as an imbsemi model file (``kind``: classifier or backbone) with the data's
    classes and normalisation; a backbone records no ``num_classes``, its head is not saved. Under DDP
    only rank 0 writes (as the manifest and every other output of a run)."""
    arch_kwargs = {**fixed_model_kwargs(splits, splits.num_classes), **config.model.kwargs}
    if kind == "backbone":
        del arch_kwargs["num_classes"]
    save_model(path, model, kind=kind, arch=config.model.arch, arch_kwargs=arch_kwargs,
               classes=splits.labeled.classes, mean=splits.mean, std=splits.std,
               provenance={"config_hash": config_hash(config), "seed": config.seed, **provenance})
