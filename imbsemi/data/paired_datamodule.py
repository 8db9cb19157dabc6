"""PairedDataModule: the labeled set and the unlabeled pool of an LTSplits served as paired weak/strong
batches, one evaluation interval per Lightning epoch; the test split for the evaluations."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytorch_lightning as pl
import torch

from imbsemi.config import SemiConfig
from imbsemi.data.arrays import ImageArrays, concat
from imbsemi.data.augment import BatchAugment, StrongView
from imbsemi.data.loader import DeviceLoader, eval_loader
from imbsemi.data.paired_loader import PairedLoader
from imbsemi.data.randaugment import StrongAugment
from imbsemi.data.recipe import AugmentRecipe
from imbsemi.data.splits import LTSplits

Additions = Callable[[], "tuple[torch.Tensor, torch.Tensor] | None"]


class PairedDataModule(pl.LightningDataModule):
    """Training loaders of ``config.eval_every`` steps each, from the trainer's global step on (so a
    resumed run continues the streams where it stopped), rebuilt every interval so that pool images a
    method adds to the labeled set (``additions``: pool indices and labels) join it."""

    def __init__(self, splits: LTSplits, config: SemiConfig, strong_views: int, additions: Additions) -> None:
        super().__init__()
        self.splits, self.config, self.strong_views, self.additions = splits, config, strong_views, additions
        augment = config.data.augment
        self.recipe = AugmentRecipe(crop_padding=augment.crop_padding, flip=augment.flip,
                                    padding_mode=config.padding_mode)

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device

    def labeled_set(self) -> ImageArrays:
        """The labeled images, with the pool images a method added under their labels."""
        added = self.additions()
        if added is None or not len(added[0]):
            return self.splits.labeled
        index, labels = (part.cpu().numpy() for part in added)
        return concat([self.splits.labeled, self.splits.pool.subset(index).with_targets(labels.astype(np.int64))])

    def train_dataloader(self) -> PairedLoader:
        config, splits, trainer = self.config, self.splits, self.trainer
        mean, std = (torch.tensor(v, dtype=torch.float32, device=self._device()) for v in (splits.mean, splits.std))
        start = trainer.global_step
        return PairedLoader(self.labeled_set(), splits.pool, config.batch_size, config.mu,
                            BatchAugment(mean, std, self.recipe),
                            StrongView(mean, std, self.recipe, StrongAugment(config.strong.num_ops,
                                                                             config.strong.cutout)),
                            seed=config.seed, start=start, stop=min(start + config.eval_every, config.steps),
                            strong_views=self.strong_views, device=self._device(), rank=trainer.global_rank,
                            world_size=trainer.world_size)

    @torch.no_grad()
    def pool_logits(self, logits: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``logits(images)`` of every pool image, unaugmented and standardised, in pool order (N, C), on
        the training device (a method that relabels the whole pool, e.g. CReST+, calls it)."""
        batches = eval_loader(self.splits.pool, self.splits.mean, self.splits.std, self._device())
        return torch.cat([logits(images) for images, _ in batches])

    def val_dataloader(self) -> DeviceLoader:
        """The test split: the LT-SSL protocol evaluates the EMA model on it every interval."""
        return eval_loader(self.splits.test, self.splits.mean, self.splits.std, self._device())
