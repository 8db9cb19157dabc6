"""What a stage builds from its config before training: the data splits and the network."""
from __future__ import annotations

from typing import Any, Union

from torch import nn

from imbsemi.config import CommonConfig
from imbsemi.data.file_sources import FILE_SOURCES
from imbsemi.data.file_dataset_splits import FileSplits
from imbsemi.data.splits import LTSplits
from imbsemi.models import MODELS
from imbsemi.registry import build

Splits = Union[LTSplits, FileSplits]


def make_splits(config: CommonConfig) -> Splits:
    """The splits of ``config.data`` for ``config.seed``: drawn from a source (LTSplits) or, for a
    split-file dataset, as its files define them (FileSplits)."""
    if config.data.source in FILE_SOURCES:
        return FileSplits(config.data, config.seed)
    return LTSplits(config.data, config.seed)


def fixed_model_kwargs(splits: Splits, num_classes: int) -> dict[str, Any]:
    """Architecture kwargs the data decides: output classes and input channels."""
    return {"num_classes": num_classes, "in_channels": splits.labeled.image_shape[-1]}


def make_model(config: CommonConfig, splits: Splits, num_classes: int) -> nn.Module:
    """A fresh ``config.model.arch`` network for this data, with the user's ``model.kwargs``."""
    return build(MODELS, config.model.arch, config.model.kwargs, "model.arch",
                 **fixed_model_kwargs(splits, num_classes))
