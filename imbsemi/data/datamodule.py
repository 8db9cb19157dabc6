"""LTDataModule: builds the test set, validation split, long-tailed labeled set and unlabeled pool
from a DataConfig and a seed, and serves them through DeviceLoaders."""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from imbsemi.config import DataConfig
from imbsemi.data import sources
from imbsemi.data.arrays import ImageArrays, concat
from imbsemi.data.loader import DeviceLoader
from imbsemi.data.longtail import class_counts, seed_streams, select_per_class
from imbsemi.data.pools import build_pool
from imbsemi.errors import DataError


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
        self._built = False

    def setup(self, stage: str | None = None) -> None:
        """Load the source and draw the splits (once; later calls do nothing)."""
        if self._built:
            return
        cfg = self.config
        train = sources.load(cfg.source, "train", cfg.root)
        self.test = sources.load(cfg.source, "test", cfg.root)
        self.rngs = seed_streams(self.seed)
        num_classes = train.num_classes
        val_index = select_per_class(train.targets, [cfg.val_per_class] * num_classes,
                                     self.rngs["validation"], what="validation split")
        rest = np.setdiff1d(np.arange(len(train)), val_index)
        n_max = cfg.n_max if cfg.n_max is not None else len(rest) / num_classes
        self.counts = class_counts(n_max, num_classes, cfg.rho, cfg.imb_type)
        labeled_index = select_per_class(train.targets, self.counts, self.rngs["labeled"], rest)
        self.val, self.labeled = train.subset(val_index), train.subset(labeled_index)
        self._train_source = train
        self._pool_candidates = np.setdiff1d(rest, labeled_index)
        self.mean, self.std = sources.STATS.get(cfg.source) or _channel_stats(self.labeled)
        self._built = True

    @property
    def num_classes(self) -> int:
        return self.labeled.num_classes

    @cached_property
    def pool(self) -> ImageArrays:
        """The unlabeled pool (targets: reference labels, -1 for irrelevant images)."""
        cfg = self.config.pool
        irrelevant = None
        if cfg.irrelevant is not None and cfg.relevance < 1:
            irrelevant = sources.match_shape(sources.load(cfg.irrelevant, "train", self.config.root),
                                             self.labeled.image_shape)
        return build_pool(self._train_source, self._pool_candidates, len(self.labeled),
                          size_factor=cfg.size_factor, rho_u=cfg.rho_u, relevance=cfg.relevance,
                          irrelevant=irrelevant, rngs=self.rngs)

    def use_pseudo_labels(self, labels: np.ndarray) -> None:
        """Train on labeled + pool images, the pool under ``labels`` (one per pool image)."""
        if len(labels) != len(self.pool):
            raise DataError(f"pseudo-labels: {len(labels)} labels for a pool of {len(self.pool)} images")
        self.pseudo_labeled = self.pool.with_targets(labels)

    @property
    def train_set(self) -> ImageArrays:
        if self.pseudo_labeled is None:
            return self.labeled
        return concat([self.labeled, self.pseudo_labeled])

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def train_dataloader(self) -> DeviceLoader:
        aug = self.config.augment
        return DeviceLoader(self.train_set, self.batch_size, mean=self.mean, std=self.std, shuffle=True,
                            padding=aug.crop_padding, flip=aug.flip, seed=self.seed, device=self._device())

    def eval_loader(self, arrays: ImageArrays) -> DeviceLoader:
        """Batches of ``arrays`` in order, without augmentation."""
        return DeviceLoader(arrays, self.eval_batch_size, mean=self.mean, std=self.std, device=self._device())

    def val_dataloader(self) -> DeviceLoader:
        return self.eval_loader(self.val)

    def test_dataloader(self) -> DeviceLoader:
        return self.eval_loader(self.test)

    def manifest(self) -> dict[str, Any]:
        """Per-class counts and fingerprints of every split built so far."""
        splits = {"test": self.test, "validation": self.val, "labeled": self.labeled}
        if "pool" in self.__dict__:
            splits["pool"] = self.pool
        out: dict[str, Any] = {"seed": self.seed, "source": self.config.source}
        for name, arrays in splits.items():
            out[name] = {"size": len(arrays), "class_counts": arrays.class_counts(),
                         "fingerprint": arrays.fingerprint()}
        if "pool" in splits:
            out["pool"]["irrelevant"] = int((self.pool.targets < 0).sum())
        return out


def _channel_stats(arrays: ImageArrays) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = arrays.images.reshape(-1, arrays.images.shape[-1]) / 255.0
    return tuple(x.mean(0).tolist()), tuple(np.maximum(x.std(0), 1e-3).tolist())
