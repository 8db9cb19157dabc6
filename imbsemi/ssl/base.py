"""SSLModule: the shared part of every self-supervised method: optimiser and schedule, and the
backbone that is exported. The kNN monitor is a Callback (``imbsemi.ssl.knn.KNNMonitor``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytorch_lightning as pl
from torch import nn

from imbsemi.accel import prepare_model
from imbsemi.config import OptimConfig
from imbsemi.data.recipe import AugmentRecipe
from imbsemi.optim import sgd_with_schedule


@dataclass(frozen=True)
class SSLTraining:
    """What every SSL method is given by the program (never by ``method.kwargs``).

    Attributes:
        make_backbone: num_classes -> network with ``features(x)`` and ``feature_dim``.
        optim, epochs: SGD settings and the schedule length.
        compile_model: torch.compile the backbone's forward on CUDA.
    """
    make_backbone: Callable[[int], nn.Module]
    optim: OptimConfig
    epochs: int
    compile_model: bool = False


def headless(backbone: nn.Module) -> nn.Module:
    """``backbone`` without its classification head (``fc`` becomes the identity): contrastive
    methods train ``features`` only, and DDP refuses parameters that get no gradient."""
    backbone.fc = nn.Identity()
    return backbone


class SSLModule(pl.LightningModule):
    """Base of the SSL methods. Subclasses build their backbone, head and loss, and define
    ``training_step``; their constructor takes ``training`` plus their own keyword hyper-parameters.

    Class attributes a subclass may set: ``views`` (SSL views, ``AugmentRecipe.count`` per image,
    instead of crop/flip), ``monitor`` (the validation metric that selects the exported epoch;
    None: the last) and ``min_batch_size``.
    """

    views: AugmentRecipe | None = None
    monitor: str | None = None
    min_batch_size = 1

    def __init__(self, backbone: nn.Module, training: SSLTraining) -> None:
        super().__init__()
        if training.optim.batch_size < self.min_batch_size:
            raise ValueError(f"optim.batch_size = {training.optim.batch_size}: {type(self).__name__} needs at "
                             f"least {self.min_batch_size} images per batch")
        self.backbone = backbone
        self.optim, self.epochs, self.compile_model = training.optim, training.epochs, training.compile_model

    def on_fit_start(self) -> None:
        prepare_model(self.backbone, self.device, self.compile_model)

    def configure_optimizers(self) -> dict:
        return sgd_with_schedule(self.parameters(), self.optim, self.epochs)
