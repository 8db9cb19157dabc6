"""What every CLI shares: argv -> config, run folder, seeding, trainer, data and model building."""
from __future__ import annotations

import argparse
import functools
import logging
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import pytorch_lightning as pl
import torch
from torch import nn

from imbsemi.checkpoints import save_model
from imbsemi.config import CommonConfig, config_hash, load_config, save_config
from imbsemi.data.datamodule import LTDataModule
from imbsemi.errors import ImbsemiError
from imbsemi.io import library_versions, write_json
from imbsemi.models import MODELS
from imbsemi.registry import build
from imbsemi.tracking import make_loggers, run_dir

C = TypeVar("C", bound=CommonConfig)


def user_errors_to_exit(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Report ImbsemiError as ``error: ...`` on stderr with exit status 2 (no traceback)."""
    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except ImbsemiError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return wrapper


def parse_config(cls: type[C], prog: str, description: str, argv: Sequence[str] | None,
                 default_config: str | None = None) -> tuple[C, str]:
    """Parse ``--config FILE`` plus dotted overrides (``key=value`` / ``--key=value`` / ``--key value``).

    Returns the config and the config file's stem (for the run folder name)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False,
                                     epilog="overrides: dotted keys, e.g. data.rho=50 --optim.lr=0.05")
    parser.add_argument("--config", default=default_config, required=default_config is None,
                        help="YAML config file" + (f" (default: {default_config})" if default_config else ""))
    args, overrides = parser.parse_known_args(argv)
    return load_config(cls, args.config, overrides), Path(args.config).stem


def start_run(config: CommonConfig, stage: str, config_stem: str) -> Path:
    """Create the run folder, save the resolved config, its hash and library versions; seed everything."""
    digest = config_hash(config)
    folder = run_dir(config.out_dir, stage, config.name, config_stem, digest)
    folder.mkdir(parents=True, exist_ok=True)
    save_config(config, folder / "config.yaml")
    write_json(folder / "run.json", {"stage": stage, "config_hash": digest, "seed": config.seed,
                                     "versions": library_versions()})
    pl.seed_everything(config.seed, workers=True, verbose=False)
    return folder


def make_trainer(config: CommonConfig, folder: Path, epochs: int, monitor: str | None) -> pl.Trainer:
    """A Lightning Trainer writing to ``folder``: CSV logs, last + best (max ``monitor``) checkpoints;
    with no ``monitor`` (no validation split) the "best" checkpoint is the last epoch's."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)  # tips, device info
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=folder / "checkpoints", filename="best", monitor=monitor,
                                              mode="max", save_last=True,
                                              enable_version_counter=False)
    options: dict[str, Any] = {"log_every_n_steps": 1, "enable_model_summary": False}
    if torch.cuda.is_available():  # bf16 autocast (BatchNorm stays fp32 under autocast), cudnn autotuning
        options.update(precision="bf16-mixed", benchmark=True)
    else:  # CPU runs are bit-reproducible
        options.update(deterministic="warn")
    options.update(config.trainer)
    return pl.Trainer(max_epochs=epochs, default_root_dir=folder, logger=make_loggers(folder),
                      callbacks=[checkpoint], **options)


def make_datamodule(config: CommonConfig, batch_size: int) -> LTDataModule:
    """The LTDataModule of ``config.data``, set up."""
    datamodule = LTDataModule(config.data, config.seed, batch_size)
    datamodule.setup()
    return datamodule


def save_manifest(folder: Path, datamodule: LTDataModule) -> None:
    """Write ``folder/data_manifest.json``: per-class counts and index hashes of the splits built."""
    write_json(folder / "data_manifest.json", datamodule.manifest())


def fixed_model_kwargs(datamodule: LTDataModule, num_classes: int) -> dict[str, Any]:
    """Architecture kwargs the data decides: output classes and input channels."""
    return {"num_classes": num_classes, "in_channels": datamodule.labeled.image_shape[-1]}


def make_model(config: CommonConfig, datamodule: LTDataModule, num_classes: int) -> nn.Module:
    """A fresh ``config.model.arch`` network for this data, with the user's ``model.kwargs``."""
    return build(MODELS, config.model.arch, config.model.kwargs, "model.arch",
                 **fixed_model_kwargs(datamodule, num_classes))


def best_score(trainer: pl.Trainer) -> float | None:
    """The monitored validation metric of the selected checkpoint (None without a validation split)."""
    score = trainer.checkpoint_callback.best_model_score
    return None if score is None else float(score)


def restore_best(module: pl.LightningModule, trainer: pl.Trainer) -> str:
    """Load the best (by the monitored validation metric) weights into ``module``; return their path."""
    path = trainer.checkpoint_callback.best_model_path
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"])
    return path


def export_model(path: Path, model: nn.Module, kind: str, config: CommonConfig, datamodule: LTDataModule,
                 provenance: dict[str, Any]) -> None:
    """Save ``model`` as an imbsemi model file (``kind``: classifier or backbone) with the data's
    classes and normalisation; a backbone records no ``num_classes``, its head is not saved."""
    arch_kwargs = {**fixed_model_kwargs(datamodule, datamodule.num_classes), **config.model.kwargs}
    if kind == "backbone":
        del arch_kwargs["num_classes"]
    save_model(path, model, kind=kind, arch=config.model.arch, arch_kwargs=arch_kwargs,
               classes=datamodule.labeled.classes, mean=datamodule.mean, std=datamodule.std,
               provenance={"config_hash": config_hash(config), "seed": config.seed, **provenance})
