"""FileSplits: the train, val and test splits of a split-file dataset (ImageNet-LT, Places-LT,
iNaturalist 2018), used as their files define them: the training list is already long-tailed and is
the labeled set as it is; per-class counts (and so the shot groups) come from it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from imbsemi.config import DataConfig
from imbsemi.data.file_sources import FILE_SOURCES
from imbsemi.data.files import FileRecipe, ImageFiles
from imbsemi.data.split_lists import read_split
from imbsemi.data.splits import align_classes
from imbsemi.errors import ConfigError, DataError
from imbsemi.io import sha256_file


class FileSplits:
    """``labeled`` (the training list), ``val`` and ``test`` as ImageFiles, checked: every listed image
    exists, labels are in the training split's range, and every evaluated class has training images.

    Raises:
        ConfigError: ``data.loader`` is ``device`` (the files are decoded as they are served).
        DataError: a split file or image is missing or malformed (naming the file and line).
    """

    def __init__(self, config: DataConfig, seed: int) -> None:
        if config.loader == "device":
            raise ConfigError(f"data.loader = device: split-file sources ({config.source}) are decoded from disk as "
                              "they are served; set data.loader: torch (or litdata)")
        self.config, self.seed = config, seed
        source = FILE_SOURCES[config.source]
        self.files = {split: Path(config.root) / name for split, name in {**source.files, **config.splits}.items()}
        aug = config.augment
        recipe = FileRecipe(aug.crop_size, aug.resize, aug.min_scale, aug.color_jitter, aug.flip, config.workers)
        root = Path(config.root)
        self.labeled = replace(read_split(self.files["train"], root), recipe=recipe)
        self.val, self.test = (self._evaluation_split(split, root, recipe) for split in ("val", "test"))
        for files in (self.labeled, self.val, self.test):
            files.check_exist()
        self.counts = self.labeled.class_counts()
        self.n_max = max(self.counts)
        self.mean, self.std = source.mean, source.std
        self.shards = config.shards or str(root / "shards" / f"{config.source}_train")  # a folder or a URL
        self.shortages: list[dict[str, Any]] = []

    def _evaluation_split(self, split: str, root: Path, recipe: FileRecipe) -> ImageFiles:
        files = replace(read_split(self.files[split], root, self.labeled.classes), recipe=recipe)
        return align_classes(files, self.labeled, f"the {split} split of {self.config.source}")

    has_pool = False

    @property
    def num_classes(self) -> int:
        return self.labeled.num_classes

    def describe(self) -> str:
        """One line: the source and its split files."""
        return f"{self.config.source}: split files {', '.join(str(path) for path in self.files.values())}"

    @property
    def pool(self) -> ImageFiles:
        raise DataError(f"data.source = {self.config.source} has no unlabeled pool: split-file datasets are "
                        "used for supervised and self-supervised training as their files define them")

    def manifest(self) -> dict[str, Any]:
        """Per split: size, per-class counts, its split file with that file's sha256, and the fingerprint
        of the listed paths and labels."""
        out: dict[str, Any] = {"seed": self.seed, "source": self.config.source, "n_max": self.n_max}
        for name, files, split in (("test", self.test, "test"), ("validation", self.val, "val"),
                                   ("labeled", self.labeled, "train")):
            out[name] = {"size": len(files), "class_counts": files.class_counts(), "split_file": str(self.files[split]),
                         "split_file_sha256": sha256_file(self.files[split]), "fingerprint": files.fingerprint()}
        return out
