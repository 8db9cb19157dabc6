"""SSLModule: the shared part of every self-supervised method: optimiser and schedule, a kNN accuracy
monitor on the validation split, and the backbone that is exported."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from imbsemi.accel import prepare_model
from imbsemi.config import OptimConfig
from imbsemi.data.augment import ViewParams
from imbsemi.optim import sgd_with_schedule
from imbsemi.ssl.knn import KNN_K, KNN_T, check_layer, embed, knn_accuracy, pooled_features


def headless(backbone: nn.Module) -> nn.Module:
    """``backbone`` without its classification head (``fc`` becomes the identity): contrastive
    methods train ``features`` only, and DDP refuses parameters that get no gradient."""
    backbone.fc = nn.Identity()
    return backbone


class SSLModule(pl.LightningModule):
    """Base of the SSL methods. Subclasses build their head and loss and define ``training_step``.

    Every ``knn_every`` epochs (and at the last), validation logs ``val/knn_acc``: each validation
    image takes the weighted vote of its ``knn_k`` nearest labeled training images in the
    backbone's normalised feature space (lightly's knn_predict, temperature ``knn_t``), read at the
    end of the network or, with ``knn_layer`` (e.g. "layer2"), at the end of that stage.

    Args:
        backbone: the network whose non-head tensors are exported (must have ``features(x)``).
        optim, epochs: SGD settings and the schedule length.
        compile_model: torch.compile the backbone's forward on CUDA.
        knn_every, knn_k, knn_t, knn_layer: the kNN monitor.
    """

    views: ViewParams | None = None  # SSL views (ViewParams.count per image) instead of crop/flip
    monitor: str | None = None  # the validation metric that selects the exported epoch (None: last)
    min_batch_size = 1

    def __init__(self, backbone: nn.Module, optim: OptimConfig, epochs: int, compile_model: bool = False,
                 knn_every: int = 10, knn_k: int = KNN_K, knn_t: float = KNN_T, knn_layer: str | None = None) -> None:
        super().__init__()
        if optim.batch_size < self.min_batch_size:
            raise ValueError(f"optim.batch_size = {optim.batch_size}: {type(self).__name__} needs at least "
                             f"{self.min_batch_size} images per batch")
        if knn_every < 1 or knn_k < 1 or knn_t <= 0:
            raise ValueError(f"knn_every = {knn_every}, knn_k = {knn_k}, knn_t = {knn_t}: must be >= 1, >= 1, > 0")
        check_layer(backbone, knn_layer)
        self.backbone = backbone
        self.optim, self.epochs, self.compile_model = optim, epochs, compile_model
        self.knn_every, self.knn_k, self.knn_t, self.knn_layer = knn_every, knn_k, knn_t, knn_layer
        self._val_features: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_fit_start(self) -> None:
        prepare_model(self.backbone, self.device, self.compile_model)

    def configure_optimizers(self) -> dict:
        return sgd_with_schedule(self.parameters(), self.optim, self.epochs)

    def _knn_epoch(self) -> bool:
        epoch = self.current_epoch
        return not self.trainer.sanity_checking and ((epoch + 1) % self.knn_every == 0 or epoch + 1 == self.epochs)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised backbone features (N, D) at the kNN monitor's layer."""
        return pooled_features(self.backbone, images, self.knn_layer)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        if self._knn_epoch():
            images, targets = batch
            self._val_features.append((self.features(images), targets))

    def on_validation_epoch_end(self) -> None:
        if not self._val_features:
            return
        datamodule = self.trainer.datamodule
        bank, bank_labels = embed(self.backbone, datamodule.eval_loader(datamodule.labeled), self.knn_layer)
        features, labels = (torch.cat(parts) for parts in zip(*self._val_features))
        self._val_features.clear()
        accuracy = knn_accuracy(features, labels, bank, bank_labels, datamodule.num_classes, self.knn_k, self.knn_t)
        self.log("val/knn_acc", accuracy, sync_dist=True)
