"""LTDataModule: builds the test set, validation split, long-tailed labeled set and unlabeled pool
from a DataConfig and a seed, and serves them through DeviceLoaders."""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from imbsemi.config import DataConfig, SourceRef
from imbsemi.data import sources
from imbsemi.data.arrays import ImageArrays, concat
from imbsemi.data.augment import AugmentedViews, CropFlipTransform, Standardize, ViewParams
from imbsemi.data.classic import classic_loader
from imbsemi.data.loader import DeviceLoader
from imbsemi.data.longtail import by_label, class_counts, seed_streams, select_per_class
from imbsemi.data.pools import build_pool
from imbsemi.errors import DataError
from imbsemi.io import sha256_arrays


class LTDataModule(pl.LightningDataModule):
    """Long-tailed splits of one source, deterministic by ``seed``.

    The validation split (``val_per_class`` per class) is held out from the training images first;
    the labeled set is drawn from the rest with the counts of ``class_counts``; the pool is drawn
    from what remains. Train batches come from the labeled set, plus the pool under its
    pseudo-labels once ``use_pseudo_labels`` is called.
    """

    def __init__(self, config: DataConfig, seed: int, batch_size: int, eval_batch_size: int = 512) -> None:
        super().__init__()
        self.config, self.seed = config, seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.pseudo_labeled: ImageArrays | None = None
        self.sample_weights: np.ndarray | None = None  # per train_set image, for re-sampling rules
        self.train_views: ViewParams | None = None  # SSL views instead of crop/flip (ViewParams.count per image)
        self.loss_weights: np.ndarray | None = None  # per train_set image (omega on pseudo-labeled images)
        self.soft_targets: np.ndarray | None = None  # (N, C) per train_set image, for soft self-training
        self._built = False

    def setup(self, stage: str | None = None) -> None:
        """Load the source and draw the splits (once; later calls do nothing)."""
        if self._built:
            return
        cfg = self.config
        self.source = sources.info(cfg.source)
        train = self._load(SourceRef(cfg.source, "train"))
        self.test = self._load(SourceRef(cfg.source, "test"))
        self.rngs = seed_streams(self.seed)
        num_classes = train.num_classes
        val_index = select_per_class(train.targets, [cfg.val_per_class] * num_classes, self.rngs["validation"],
                                     what="validation split", hint="; lower data.val_per_class")
        rest = np.setdiff1d(np.arange(len(train)), val_index)
        self.n_max = cfg.n_max or self.source.n_max or len(train) / num_classes
        self.counts = by_label(class_counts(self.n_max, num_classes, cfg.rho, cfg.imb_type), self.source.head_to_tail)
        labeled_index = select_per_class(
            train.targets, self.counts, self.rngs["labeled"], rest, what="labeled set",
            hint=f" after holding out data.val_per_class = {cfg.val_per_class}; lower data.n_max "
                 f"(now {self.n_max:g}) or data.val_per_class")
        self.val, self.labeled = train.subset(val_index), train.subset(labeled_index)
        self._train_source = train
        self._pool_candidates = np.setdiff1d(rest, labeled_index)
        if self.source.mean is not None:
            self.mean, self.std = self.source.mean, self.source.std
        else:
            self.mean, self.std = _channel_stats(self.labeled)
        self._built = True

    def _load(self, ref: SourceRef) -> ImageArrays:
        cfg = self.config
        return sources.load(ref.name, ref.split, ref.root or cfg.root, download=cfg.download, verify=cfg.verify,
                            image_size=cfg.image_size)

    @property
    def num_classes(self) -> int:
        return self.labeled.num_classes

    @cached_property
    def pool(self) -> ImageArrays:
        """The unlabeled pool (targets: reference labels, -1 for irrelevant images)."""
        cfg = self.config.pool
        relevant, candidates = self._train_source, self._pool_candidates
        if cfg.relevant is not None:
            relevant = sources.match_shape(self._load(cfg.relevant), self.labeled.image_shape)
            candidates = np.arange(len(relevant))
            if relevant.num_classes != self.num_classes:
                raise DataError(f"data.pool.relevant = {cfg.relevant.name}:{cfg.relevant.split} has "
                                f"{relevant.num_classes} classes; {self.config.source} has {self.num_classes}")
        irrelevant = None
        if cfg.irrelevant is not None and cfg.relevance < 1:
            irrelevant = sources.match_shape(self._load(cfg.irrelevant), self.labeled.image_shape)
        pool, self.shortages = build_pool(
            relevant, candidates, len(self.labeled), size_factor=cfg.size_factor, rho_u=cfg.rho_u,
            relevance=cfg.relevance, head_to_tail=self.source.head_to_tail, irrelevant=irrelevant,
            rngs=self.rngs, allow_shortage=cfg.allow_shortage)
        return pool

    def use_pseudo_labels(self, labels: np.ndarray, confidences: np.ndarray, threshold: float = 0.0,
                          omega: float = 1.0, probabilities: np.ndarray | None = None) -> None:
        """Train on labeled + the pool images whose confidence is >= ``threshold``, under their pseudo-labels
        (one label and confidence per pool image), with their loss weighted by ``omega``; with
        ``probabilities`` (N_pool, C) the targets are soft (labeled images one-hot)."""
        if len(labels) != len(self.pool) or len(confidences) != len(self.pool):
            raise DataError(f"pseudo-labels: {len(labels)} labels for a pool of {len(self.pool)} images")
        keep = np.flatnonzero(confidences >= threshold)
        if len(keep) == 0:
            raise DataError(f"self_training.threshold = {threshold} leaves none of the {len(self.pool)} pool images "
                            f"(highest confidence {confidences.max():.3f})")
        self.pseudo_labeled = self.pool.subset(keep).with_targets(labels[keep])
        self.loss_weights = None if omega == 1 else np.concatenate(
            [np.ones(len(self.labeled)), np.full(len(keep), omega)]).astype(np.float32)
        self.soft_targets = None if probabilities is None else np.concatenate(
            [np.eye(self.num_classes, dtype=np.float32)[self.labeled.targets], probabilities[keep].astype(np.float32)])

    @property
    def train_set(self) -> ImageArrays:
        if self.pseudo_labeled is None:
            return self.labeled
        return concat([self.labeled, self.pseudo_labeled])

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        device = self._device()
        return (torch.tensor(self.mean, dtype=torch.float32, device=device),
                torch.tensor(self.std, dtype=torch.float32, device=device))

    def train_dataloader(self) -> DeviceLoader | DataLoader:
        """Augmented, shuffled full batches: on the device (``loader: device``) or through a classic
        torchvision Dataset + DataLoader with PIL transforms (``loader: torch``)."""
        aug = self.config.augment
        if self.config.loader == "torch":
            if self.loss_weights is not None or self.soft_targets is not None:
                raise DataError("data.loader: torch has no per-sample weights or soft targets; use "
                                "data.loader: device for self_training.omega != 1 or self_training.soft")
            return classic_loader(self.train_set, self.batch_size, self.mean, self.std, aug.crop_padding, aug.flip,
                                  self.config.workers, self.seed, self.sample_weights, self.train_views)
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        if self.train_views is not None:
            transform = AugmentedViews(*self._stats(), self.train_views)
        else:
            transform = CropFlipTransform(*self._stats(), aug.crop_padding, aug.flip)
        return DeviceLoader(self.train_set, self.batch_size, transform, shuffle=True, seed=self.seed,
                            device=self._device(), rank=rank, world_size=world, sample_weights=self.sample_weights,
                            loss_weights=self.loss_weights, soft_targets=self.soft_targets)

    def eval_loader(self, arrays: ImageArrays) -> DeviceLoader:
        """Batches of ``arrays`` in order, without augmentation."""
        return DeviceLoader(arrays, self.eval_batch_size, Standardize(*self._stats()), device=self._device())

    def test_dataloader(self) -> DeviceLoader:
        return self.eval_loader(self.test)

    def val_dataloader(self) -> DeviceLoader | list:
        return self.eval_loader(self.val) if len(self.val) else []

    def manifest(self) -> dict[str, Any]:
        """Per-class counts, index hashes and fingerprints of every split built so far."""
        splits = {"test": self.test, "validation": self.val, "labeled": self.labeled}
        if "pool" in self.__dict__:
            splits["pool"] = self.pool
        out: dict[str, Any] = {"seed": self.seed, "source": self.config.source, "n_max": self.n_max}
        for name, arrays in splits.items():
            out[name] = {"size": len(arrays), "class_counts": arrays.class_counts(),
                         "sources": list(arrays.provenance.sources),
                         "indices_sha256": sha256_arrays(arrays.provenance.source_id, arrays.provenance.index),
                         "fingerprint": arrays.fingerprint()}
        if "pool" in splits:
            irrelevant = int((self.pool.targets < 0).sum())
            out["pool"].update(irrelevant=irrelevant, shortages=self.shortages,
                               relevance=(len(self.pool) - irrelevant) / max(len(self.pool), 1))
        return out


def _channel_stats(arrays: ImageArrays) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = arrays.images.reshape(-1, arrays.images.shape[-1]) / 255.0
    return tuple(x.mean(0).tolist()), tuple(np.maximum(x.std(0), 1e-3).tolist())
