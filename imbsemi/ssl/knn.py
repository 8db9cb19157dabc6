"""kNN evaluation of a backbone: L2-normalised features, at the end of the network or of one of its
stages, the temperature-weighted vote of lightly's ``knn_predict``, and the KNNMonitor callback."""
from __future__ import annotations

from typing import Iterable, Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from lightly.utils.benchmarking.knn import knn_predict
from torch import nn

from imbsemi.config import KNN_K, KNN_T
from imbsemi.data.arrays import ImageArrays
from imbsemi.data.loader import eval_loader


def check_layer(backbone: nn.Module, layer: str | None) -> None:
    """Raise ValueError unless ``layer`` is None or names a submodule of ``backbone`` (e.g. "layer2")."""
    if layer is None:
        return
    try:
        backbone.get_submodule(layer)
    except AttributeError:
        stages = [name for name, _ in backbone.named_children()]
        raise ValueError(f"knn.layer = {layer!r}: {type(backbone).__name__} has no such submodule; "
                         f"its top-level modules are {', '.join(stages)}") from None


def pooled_features(backbone: nn.Module, images: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """L2-normalised features (N, D) of ``images``: ``backbone.features``, or with ``layer`` the
    global average over H and W of that submodule's (N, D, H, W) output."""
    if layer is None:
        return F.normalize(backbone.features(images).float(), dim=1)
    captured: list[torch.Tensor] = []
    handle = backbone.get_submodule(layer).register_forward_hook(lambda module, inputs, out: captured.append(out))
    try:
        backbone.features(images)
    finally:
        handle.remove()
    return F.normalize(captured[0].float().mean((2, 3)), dim=1)


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor,
                 num_classes: int, k: int, temperature: float) -> float:
    """Share of ``features`` whose weighted vote among their ``k`` nearest ``bank`` rows (cosine
    similarity; weights exp(similarity / temperature)) is their label; a bank smaller than ``k``
    votes whole."""
    predicted = knn_predict(features, bank.T, bank_labels, num_classes, min(k, len(bank)), temperature)[:, 0]
    return (predicted == labels).float().mean().item()


@torch.no_grad()
def embed(backbone: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
          layer: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of every (images, labels) batch, concatenated."""
    parts = [(pooled_features(backbone, images, layer), labels) for images, labels in batches]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


class KNNMonitor(pl.Callback):
    """Logs ``val/knn_acc`` every ``every`` epochs and at the last: the share of ``query`` images
    whose weighted vote among their ``k`` nearest ``bank`` images (features of the module's
    ``backbone``, read at ``layer``; temperature ``t``) is their label. The backbone is evaluated in
    eval mode, and its train/eval mode is restored afterwards.

    Args:
        bank, query: labeled images (e.g. the labeled training set and the validation split).
        mean, std: per-channel normalisation of the images.
        every, k, t, layer: how often, neighbours, vote temperature, feature layer (None: the end).
        batch_size: images per embedding batch (None: the device's ``eval_batch_size``).
    """

    def __init__(self, bank: ImageArrays, query: ImageArrays, mean: Sequence[float], std: Sequence[float], *,
                 every: int = 10, k: int = KNN_K, t: float = KNN_T, layer: str | None = None,
                 batch_size: int | None = None) -> None:
        if every < 1 or k < 1 or t <= 0:
            raise ValueError(f"knn.every = {every}, knn.k = {k}, knn.t = {t}: must be >= 1, >= 1, > 0")
        self.bank, self.query, self.mean, self.std = bank, query, mean, std
        self.every, self.k, self.t, self.layer, self.batch_size = every, k, t, layer, batch_size

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        check_layer(pl_module.backbone, self.layer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every and epoch != trainer.max_epochs:
            return
        device, backbone = pl_module.device, pl_module.backbone
        was_training = backbone.training
        backbone.eval()
        try:
            bank, bank_labels = embed(backbone, eval_loader(self.bank, self.mean, self.std, device, self.batch_size),
                                      self.layer)
            features, labels = embed(backbone, eval_loader(self.query, self.mean, self.std, device, self.batch_size),
                                     self.layer)
        finally:
            backbone.train(was_training)
        accuracy = knn_accuracy(features, labels, bank, bank_labels, self.bank.num_classes, self.k, self.t)
        pl_module.log("val/knn_acc", accuracy, sync_dist=True)
