"""The model file a stage exports: the network with its data's classes, normalisation and provenance."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from imbsemi.checkpoints import save_model
from imbsemi.config import ModelConfig
from imbsemi.stages.build import fixed_model_kwargs
from imbsemi.stages.run import StageRun


@rank_zero_only
def export_model(path: Path, network: nn.Module, kind: str, run: StageRun, model: ModelConfig,
                 provenance: dict[str, Any]) -> None:
    """Save ``network`` (built by ``model``: arch and kwargs) as an imbsemi model file (``kind``:
    classifier or backbone) with ``run``'s data classes and normalisation, and its config hash and seed
    in the provenance; a backbone records no ``num_classes``, its head is not saved. Under DDP only rank
    0 writes (as the manifest and every other output of a run)."""
    splits = run.splits
    arch_kwargs = {**fixed_model_kwargs(splits, splits.num_classes), **model.kwargs}
    if kind == "backbone":
        del arch_kwargs["num_classes"]
    save_model(path, network, kind=kind, arch=model.arch, arch_kwargs=arch_kwargs,
               classes=splits.labeled.classes, mean=splits.mean, std=splits.std,
               provenance={"config_hash": run.config_hash, "seed": run.config.seed, **provenance})
