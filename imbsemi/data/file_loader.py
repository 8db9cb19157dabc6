"""The streaming input path of split-file datasets: image files decoded by torchvision in DataLoader
worker processes and augmented per image (``FileRecipe``), so nothing but the file list is held in
memory."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

from imbsemi.data.epoch_sampler import epoch_loader, seeded_streams
from imbsemi.data.files import FileRecipe, ImageFiles
from imbsemi.data.recipe import AugmentRecipe, torchvision_transform, training_recipe
from imbsemi.errors import DataError


def eval_transform(recipe: FileRecipe, mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 (3, H, W) -> normalised float (3, crop, crop): shorter side to ``resize``, centre crop."""
    return v2.Compose([v2.Resize(recipe.resize, antialias=True), v2.CenterCrop(recipe.crop_size),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def decode(files: ImageFiles, index: int) -> torch.Tensor:
    """Image ``index`` of ``files`` as uint8 RGB (3, H, W); a DataError names the split file entry."""
    path = files.path(index)
    try:
        return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except (RuntimeError, OSError) as err:
        raise DataError(f"{files.listing} {files.unit} {files.lines[index]}: image {path} cannot be read or "
                        f"decoded: {err}") from err


class FileDataset(Dataset):
    """Image ``index`` of ``files`` through ``transform``, with its target. Keys are ``(epoch, index)``
    (training: the transform draws from streams seeded by (seed, epoch, index), as ArrayDataset) or
    plain indices (evaluation)."""

    def __init__(self, files: ImageFiles, transform: Callable[[torch.Tensor], Any], seed: int = 0) -> None:
        self.files, self.transform, self.seed = files, transform, seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, int]:
        if isinstance(key, tuple):
            epoch, index = key
            image = decode(self.files, index)
            with seeded_streams(self.seed, epoch, index):
                return self.transform(image), int(self.files.targets[index])
        return self.transform(decode(self.files, key)), int(self.files.targets[key])


def file_train_loader(files: ImageFiles, batch_size: int, mean: Sequence[float], std: Sequence[float], seed: int,
                      sample_weights: np.ndarray | None = None, drop_last: bool = False, epoch: int = 0,
                      views: AugmentRecipe | None = None, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Shuffled (or re-sampled by ``sample_weights``) batches of ``files`` from ``files.recipe.workers``
    processes: augmented by the recipe, or ``views.count`` SSL views (blurred) per image; order and
    augmentation are functions of (seed, epoch), from ``epoch`` on; each DDP ``rank`` serves its shard."""
    transform = training_transform(files.recipe, mean, std, views)
    return epoch_loader(FileDataset(files, transform, seed), batch_size, files.recipe.workers, seed, sample_weights,
                        drop_last, epoch, rank, world_size)


def training_transform(recipe: FileRecipe, mean: Sequence[float], std: Sequence[float],
                       views: AugmentRecipe | None) -> Callable[[torch.Tensor], Any]:
    """Decoded uint8 (3, H, W) image -> normalised float (3, crop, crop) augmented as the recipe's keys
    ask (random resized crop, flip, colour jitter), or ``views.count`` such SSL views (blurred)."""
    return torchvision_transform(training_recipe(flip=recipe.flip, crop_size=recipe.crop_size,
                                                 min_scale=recipe.min_scale, color_jitter=recipe.color_jitter,
                                                 views=views), mean, std)


class FileEvalLoader:
    """Batches of ``files`` in order (resize + centre crop, no augmentation), moved to ``device``."""

    def __init__(self, files: ImageFiles, mean: Sequence[float], std: Sequence[float], device: torch.device | str,
                 batch_size: int) -> None:
        self.device = torch.device(device)
        self.loader = DataLoader(FileDataset(files, eval_transform(files.recipe, mean, std)), batch_size=batch_size,
                                 num_workers=files.recipe.workers)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, targets in self.loader:
            yield images.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
