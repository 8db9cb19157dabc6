"""The model file a stage exports: the network with its data's classes, normalisation and provenance."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from imbsemi.checkpoints import save_model
from imbsemi.config import CommonConfig
from imbsemi.config_files import config_hash
from imbsemi.stages.build import Splits, fixed_model_kwargs


@rank_zero_only
def export_model(path: Path, model: nn.Module, kind: str, config: CommonConfig, splits: Splits,
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
