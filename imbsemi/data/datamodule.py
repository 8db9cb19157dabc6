"""LTDataModule: serves the splits of an LTSplits through DeviceLoaders (or the classic DataLoader
path), built once from a complete TrainSpec: nothing about it changes after construction."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from imbsemi.data.arrays import NO_LABEL, ImageArrays, concat
from imbsemi.data.augment import BatchAugment
from imbsemi.data.classic import classic_loader
from imbsemi.data.file_loader import file_train_loader, training_transform
from imbsemi.data.file_sources import FILE_SOURCES
from imbsemi.data.files import ImageFiles
from imbsemi.data.loader import DeviceLoader, ZippedLoader, eval_loader
from imbsemi.data.longtail import stream_seed
from imbsemi.data.rank_split import shard_positions
from imbsemi.data.recipe import AugmentRecipe, training_recipe
from imbsemi.data.sampling import sample_weights, with_unlabeled_share
from imbsemi.data.splits import LTSplits
from imbsemi.errors import ConfigError, DataError

SECOND_SAMPLER_STREAM = 2  # the seed of a second sampler's loader: stream_seed(seed, 2)


@dataclass(frozen=True)
class PseudoLabeledPool:
    """Pseudo-labels of every pool image and how self-training uses them: images with confidence
    >= ``threshold`` join the labeled set under ``labels``, their loss weighted by ``omega``; with
    ``probabilities`` (N_pool, C) the training targets are soft (labeled images one-hot)."""
    labels: np.ndarray
    confidences: np.ndarray
    threshold: float = 0.0
    omega: float = 1.0
    probabilities: np.ndarray | None = None


@dataclass(frozen=True)
class TrainSpec:
    """Everything that decides the training batches.

    Args:
        batch_size: training images per batch (per rank).
        pseudo: pseudo-labeled pool images to train on besides the labeled set (self-training).
        rule: re-sampling rule of the training set (``resample``, ``resample_effective``; other
            rules do not re-sample) with the effective-number ``beta``.
        unlabeled_share: expected share of pool images per batch (None: their natural proportion).
        views: SSL views (``views.count`` per image) instead of crop/flip augmentation.
        eval_batch_size: images per evaluation batch (None: the device's ``eval_batch_size``).
        second_rule: a sampling rule (``sampling.SAMPLING_RULES``) of a second batch served with each
            training batch, from its own seed (BBN's reversed sampler); batches are then pairs.
    """
    batch_size: int
    pseudo: PseudoLabeledPool | None = None
    rule: str = "none"
    beta: float = 0.9999
    unlabeled_share: float | None = None
    views: AugmentRecipe | None = None
    eval_batch_size: int | None = None
    second_rule: str | None = None


class LTDataModule(pl.LightningDataModule):
    """Training set (labeled, plus kept pseudo-labeled pool images), its sampling and loss weights
    and soft targets, all computed once at construction from ``splits`` and ``spec``."""

    def __init__(self, splits: LTSplits, spec: TrainSpec) -> None:
        super().__init__()
        self.splits, self.spec = splits, spec
        self.train_set, self.loss_weights, self.soft_targets = _training_set(splits, spec.pseudo)
        weights = sample_weights(self.train_set.targets, self.train_set.class_counts(), spec.rule, spec.beta)
        if self.mixes_pool_share:
            weights = with_unlabeled_share(weights, len(splits.labeled), len(self.train_set), spec.unlabeled_share)
        self.sample_weights = weights

    @property
    def mixes_pool_share(self) -> bool:
        """Whether batches draw pool images with a fixed ``unlabeled_share``."""
        return self.spec.unlabeled_share is not None and self.spec.pseudo is not None

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def train_dataloader(self) -> DeviceLoader | ZippedLoader | DataLoader:
        """Augmented, shuffled batches (every image once per epoch unless ``data.drop_last``): on the
        device (``loader: device``) or through a classic torchvision Dataset + DataLoader with PIL
        transforms (``loader: torch``); with ``second_rule``, pairs of device batches."""
        config, spec = self.splits.config, self.spec
        aug = config.augment
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        if spec.second_rule is not None and (config.loader != "device" or isinstance(self.train_set, ImageFiles)):
            raise ConfigError(f"a second sampler ({spec.second_rule}) is served from memory by the device loader "
                              f"only; data.loader = {config.loader} with data.source = {config.source}: use "
                              "data.loader: device and a source held in memory")
        if config.loader == "litdata":
            return self._shard_loader(_epoch_ahead(trainer))
        if isinstance(self.train_set, ImageFiles):
            return file_train_loader(self.train_set, spec.batch_size, self.splits.mean, self.splits.std,
                                     self.splits.seed, self.sample_weights, config.drop_last, _epoch_ahead(trainer),
                                     spec.views, rank, world)
        if config.loader == "torch":
            if self.loss_weights is not None or self.soft_targets is not None:
                raise DataError("data.loader: torch has no per-sample weights or soft targets; use "
                                "data.loader: device for self_training.omega != 1 or self_training.soft")
            return classic_loader(self.train_set, spec.batch_size, self.splits.mean, self.splits.std,
                                  aug.crop_padding, aug.flip, config.workers, self.splits.seed, self.sample_weights,
                                  spec.views, config.drop_last, _epoch_ahead(trainer), rank, world)
        mean, std = (torch.tensor(v, dtype=torch.float32, device=self._device()) for v in (self.splits.mean,
                                                                                          self.splits.std))
        transform = BatchAugment(mean, std, training_recipe(flip=aug.flip, crop_padding=aug.crop_padding,
                                                            views=spec.views))

        def loader(seed: int, weights: np.ndarray | None) -> DeviceLoader:
            return DeviceLoader(self.train_set, spec.batch_size, transform, shuffle=True, seed=seed,
                                device=self._device(), rank=rank, world_size=world, sample_weights=weights,
                                loss_weights=self.loss_weights, soft_targets=self.soft_targets,
                                drop_last=config.drop_last)

        main = loader(self.splits.seed, self.sample_weights)
        if spec.second_rule is None:
            return main
        second = sample_weights(self.train_set.targets, self.train_set.class_counts(), spec.second_rule, spec.beta)
        return ZippedLoader(main, loader(stream_seed(self.splits.seed, SECOND_SAMPLER_STREAM), second))

    def _shard_loader(self, epoch: int) -> DataLoader:
        """The training set streamed from its litdata shards (split-file sources only)."""
        if not isinstance(self.train_set, ImageFiles):
            raise ConfigError(f"data.loader = litdata streams split-file datasets ({', '.join(FILE_SOURCES)}); "
                              f"{self.splits.config.source} is held in memory: use data.loader: device or torch")
        if self.sample_weights is not None:
            raise ConfigError("data.loader = litdata streams each shard in turn and cannot re-sample by class; use "
                              "data.loader: torch for a re-sampling rule")
        from imbsemi.data.litdata_shards import shard_loader  # litdata is needed for this loader only

        splits, spec = self.splits, self.spec
        transform = training_transform(self.train_set.recipe, splits.mean, splits.std, spec.views)
        return shard_loader(self.train_set, splits.shards, transform, spec.batch_size, splits.seed,
                            splits.config.drop_last, epoch)

    def eval_loader(self, arrays: ImageArrays) -> DeviceLoader:
        """Batches of ``arrays`` in order, without augmentation."""
        return eval_loader(arrays, self.splits.mean, self.splits.std, self._device(), self.spec.eval_batch_size)

    def test_dataloader(self) -> DeviceLoader:
        return self.eval_loader(self._rank_share(self.splits.test))

    def val_dataloader(self) -> DeviceLoader | list:
        return self.eval_loader(self._rank_share(self.splits.val)) if len(self.splits.val) else []

    def _rank_share(self, split: ImageArrays | ImageFiles) -> ImageArrays | ImageFiles:
        """This rank's share of an evaluation split under DDP (the whole split otherwise)."""
        trainer = getattr(self, "trainer", None)
        return rank_share(split, trainer.global_rank, trainer.world_size) if trainer is not None else split


def rank_share(split: ImageArrays | ImageFiles, rank: int, world_size: int) -> ImageArrays | ImageFiles:
    """``rank``'s share of ``split`` (``shard_positions``, so every rank runs as many batches); the
    padding's targets are NO_LABEL, so the predictions gathered from all ranks count each image once."""
    if world_size == 1:
        return split
    size = len(split)
    positions = shard_positions(size, rank, world_size)
    share = split.subset(positions % size)
    return replace(share, targets=np.where(positions < size, share.targets, NO_LABEL))


def _epoch_ahead(trainer: pl.Trainer | None) -> int:
    """The epoch a training loader made now serves first: Lightning makes it (and its workers take
    their first keys) before it sets the sampler's epoch, so a resumed run must say where it stands."""
    return 0 if trainer is None else trainer.fit_loop.epoch_progress.current.processed


def _training_set(splits: LTSplits, pseudo: PseudoLabeledPool | None
                  ) -> tuple[ImageArrays, np.ndarray | None, np.ndarray | None]:
    """(training images, per-image loss weights, per-image soft targets) of the labeled set and the
    pool images ``pseudo`` keeps; weights and soft targets are None when not needed."""
    labeled = splits.labeled
    if pseudo is None:
        return labeled, None, None
    pool = splits.pool
    if len(pseudo.labels) != len(pool) or len(pseudo.confidences) != len(pool):
        raise DataError(f"pseudo-labels: {len(pseudo.labels)} labels for a pool of {len(pool)} images")
    keep = np.flatnonzero(pseudo.confidences >= pseudo.threshold)
    if len(keep) == 0:
        raise DataError(f"self_training.threshold = {pseudo.threshold} leaves none of the {len(pool)} pool "
                        f"images (highest confidence {pseudo.confidences.max():.3f})")
    train_set = concat([labeled, pool.subset(keep).with_targets(pseudo.labels[keep])])
    loss_weights = None if pseudo.omega == 1 else np.concatenate(
        [np.ones(len(labeled)), np.full(len(keep), pseudo.omega)]).astype(np.float32)
    soft_targets = None if pseudo.probabilities is None else np.concatenate(
        [np.eye(splits.num_classes, dtype=np.float32)[labeled.targets],
         pseudo.probabilities[keep].astype(np.float32)])
    return train_set, loss_weights, soft_targets
