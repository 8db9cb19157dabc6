"""Run folders, loggers and the one-line-per-epoch progress report; experiment tracking on wandb.

CSV logs (``<run folder>/logs/metrics.csv``) are always written. With ``logger.wandb`` set, one
command is one wandb run: its config is the resolved config, each stage logs its curves and its
summary under its own prefix (``ssp/``, ``base/``, ``pseudo/``, ``selftrain/``) and its figures as
images. Only global rank 0 talks to wandb.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TypeVar

import pytorch_lightning as pl
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from imbsemi.config import CommonConfig
from imbsemi.config_files import to_dict
from imbsemi.dataclass_yaml import parse_overrides
from imbsemi.io import write_text
from imbsemi.metrics import SUMMARY_METRICS
from imbsemi.resume import ResumedCSVLogger

C = TypeVar("C", bound=CommonConfig)
log = logging.getLogger("imbsemi")
REPORT_KEYS = (*SUMMARY_METRICS, "per_class_acc")
STAGE_KEYS = ("selected_epoch", "best_val", "score", "last_knn_acc", "reference_accuracy", "pool_size", "train_size",
              "pseudo_kept", "pseudo_label_counts")


def run_dir(out_dir: str, stage: str, name: str | None, config_stem: str, config_hash: str) -> Path:
    """``<out_dir>/<stage>/<name>``; the default name is ``<config file stem>-<hash[:8]>``."""
    return Path(out_dir) / stage / (name or f"{config_stem}-{config_hash[:8]}")


def named_by_overrides(config: C, overrides: Sequence[str]) -> C:
    """``config`` whose unnamed wandb run is named by the command-line overrides, by their last key part
    (``relevance=0.6 seed=1``) rather than by a hash. When some are ``--key=value`` (the form a wandb
    agent passes the sweep's values in) only those name it, so a sweep's fixed ``key=value`` arguments
    do not; the local sweep runner passes the same flags and gets the same names."""
    options = config.logger.wandb
    if options is None or options.name is not None or not overrides:
        return config
    flags = [item for item in overrides if item.startswith("--") and "=" in item]
    label = " ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in parse_overrides(flags or overrides))
    logger = dataclasses.replace(config.logger, wandb=dataclasses.replace(options, name=label))
    return dataclasses.replace(config, logger=logger)


class StageWandbLogger(WandbLogger):
    """Lightning's WandbLogger on a shared run: metrics as ``<stage>/<name>``; the run's config is the
    resolved config, so the modules' hyper-parameters are not logged over it."""
    LOGGER_JOIN_CHAR = "/"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


class Tracker:
    """A wandb run (None: tracking off, or not rank 0) and the prefix the current stage logs under."""

    def __init__(self, run: Any | None, prefix: str = "") -> None:
        self.run, self.prefix = run, prefix

    @classmethod
    def start(cls, config: CommonConfig, folder: Path, prefix: str = "") -> Tracker:
        """Start the wandb run of ``config.logger.wandb`` with files under ``folder/wandb``; named
        ``wandb.name`` or after the folder, grouped by ``wandb.group`` or the folder's name. A run
        started again in the same folder (a resume) continues the same wandb run: its id is kept in
        ``folder/wandb/run_id``."""
        options = config.logger.wandb
        if options is None or options.mode == "disabled" or rank_zero_only.rank != 0:
            return cls(None, prefix)
        import wandb

        id_file = folder / "wandb" / "run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        write_text(id_file, run_id)
        run = wandb.init(project=options.project, entity=options.entity, group=options.group or folder.name,
                         tags=list(options.tags) or None, mode=options.mode, name=options.name or folder.name,
                         dir=str(folder), config=to_dict(config), reinit="create_new", id=run_id, resume="allow")
        run.define_metric("trainer/global_step")
        run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
        log.info("wandb: run %s (%s) in %s", run.name, options.mode, run.dir)
        return cls(run, prefix)

    def stage(self, prefix: str) -> Tracker:
        """The same run, logging under ``prefix``."""
        return Tracker(self.run, prefix)

    def loggers(self, folder: Path, kept_epoch: int | None = None) -> list[Logger]:
        """CSV metrics at ``<folder>/logs/metrics.csv`` (of a resumed run: its rows up to ``kept_epoch``
        kept) and, when tracking, the run under this prefix."""
        loggers: list[Logger] = [ResumedCSVLogger(folder, kept_epoch)]
        if self.run is not None:
            loggers.append(StageWandbLogger(experiment=self.run, prefix=self.prefix))
        return loggers

    def add_config(self, values: Mapping[str, Any]) -> None:
        """Add ``values`` (e.g. the data manifest) to the run's config."""
        if self.run is not None:
            self.run.config.update(dict(values), allow_val_change=True)

    def summarize(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Put ``values`` (under this prefix) into the run's summary; returns the prefixed values."""
        values = prefixed(self.prefix, values)
        if self.run is not None:
            self.run.summary.update(values)
        return values

    def log_stage(self, folder: Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """Summarize a stage's ``metrics`` (``stage_summary``) and log its ``figures/*.png``; returns the
        prefixed summary."""
        summary = self.summarize(stage_summary(metrics))
        if self.run is not None:
            import wandb

            images = prefixed(self.prefix, {f"figures/{path.stem}": wandb.Image(str(path))
                                            for path in sorted((Path(folder) / "figures").glob("*.png"))})
            if images:
                self.run.log(images)
        return summary

    def finish(self, failed: bool = False) -> None:
        if self.run is not None:
            self.run.finish(exit_code=1 if failed else 0)


def prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with keys ``<prefix>/<key>`` (unchanged for an empty prefix)."""
    return {f"{prefix}/{key}" if prefix else key: value for key, value in values.items()}


def stage_summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a stage's metrics.json: the test report's SUMMARY_METRICS (balanced and overall
    accuracy, macro-F1, G-mean, many/medium/few) and per-class accuracy; the selection and pseudo-label
    numbers (accuracy, per-class recall and precision against the reference labels, pool size, images kept)."""
    summary = {key: metrics[key] for key in STAGE_KEYS if metrics.get(key) is not None}
    report = metrics.get("test") or {}
    summary.update({key: report[key] for key in REPORT_KEYS if key in report})
    reference = metrics.get("reference_report")
    if reference:
        summary.update(per_class_recall=reference["per_class_acc"],
                       per_class_precision=reference["per_class_precision"])
    return summary


@contextmanager
def tracked(config: CommonConfig, folder: Path, tracker: Tracker | None, prefix: str) -> Iterator[Tracker]:
    """``tracker`` as given when a caller owns the run (and chose the prefix); else a run of this stage
    alone under ``prefix``, finished on exit (marked failed on an exception)."""
    if tracker is not None:
        yield tracker
        return
    own = Tracker.start(config, folder, prefix)
    try:
        yield own
    except BaseException:
        own.finish(failed=True)
        raise
    own.finish()


class EpochLine(pl.Callback):
    """Logs one line per finished epoch with its metrics (used when there is no progress bar)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        shown = " ".join(f"{key}={float(value):.4f}" for key, value in sorted(trainer.callback_metrics.items())
                         if value.numel() == 1 and not key.rsplit("/", 1)[-1].isdigit())  # per-class: logs only
        log.info("%s: epoch %d/%d %s", self.stage, trainer.current_epoch + 1, trainer.max_epochs, shown)
