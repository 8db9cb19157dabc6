"""LTSplits: the test set, validation split, long-tailed labeled set and unlabeled pool of one
DataConfig and seed, each built once."""
from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from imbsemi.config import DataConfig, SourceRef
from imbsemi.data import sources
from imbsemi.data.arrays import NO_LABEL, ImageArrays, concat
from imbsemi.data.file_sources import FILE_SOURCES
from imbsemi.data.longtail import by_label, by_rank, class_counts, largest_n_max, seed_streams, select_per_class
from imbsemi.data.pools import build_pool
from imbsemi.errors import ConfigError, DataError
from imbsemi.io import sha256_arrays

LOADER_OPTIONS = ("download", "verify", "image_size")  # DataConfig keys that only some loaders read
# a source without checksums satisfies `verify` either way; the other options change what is read
MUST_TAKE_EFFECT = ("download", "image_size")


class LTSplits:
    """Long-tailed splits of one source, deterministic by ``seed``.

    The validation split (``val_per_class`` per class) is held out from the training images first;
    the labeled set is drawn from the rest with the counts of ``class_counts``; the pool (built on
    first use: it may read other sources) is drawn from what remains or from ``pool.relevant``.
    """

    def __init__(self, config: DataConfig, seed: int) -> None:
        self.config, self.seed = config, seed
        self.source = sources.info(config.source)
        self.options = _loader_options(config)
        train = self._load(SourceRef(config.source, "train"))
        test = self._load(SourceRef(config.source, "test"))
        if test.image_shape != train.image_shape:
            raise DataError(f"the test split of {config.source} has images of shape {_shape(test)}, its training "
                            f"split {_shape(train)}; both splits must have one image size and channel count")
        self.test = align_classes(test, train, f"the test split of {config.source}")
        self.rngs = seed_streams(seed)
        num_classes = train.num_classes
        val_index = select_per_class(train.targets, [config.val_per_class] * num_classes, self.rngs["validation"],
                                     what="validation split", hint="; lower data.val_per_class")
        rest = np.setdiff1d(np.arange(len(train)), val_index)
        available = np.bincount(train.targets[rest], minlength=num_classes).tolist()
        self.n_max = config.n_max or self.source.n_max or largest_n_max(
            by_rank(available, self.source.head_to_tail), config.rho, config.imb_type)
        self.counts = by_label(class_counts(self.n_max, num_classes, config.rho, config.imb_type),
                               self.source.head_to_tail)
        labeled_index = select_per_class(
            train.targets, self.counts, self.rngs["labeled"], rest, what="labeled set",
            hint=f" after holding out data.val_per_class = {config.val_per_class}; lower data.n_max "
                 f"(now {self.n_max:g}) or data.val_per_class")
        self.val, self.labeled = train.subset(val_index), train.subset(labeled_index)
        self._train_source = train
        self._pool_candidates = np.setdiff1d(rest, labeled_index)
        self.mean, self.std = ((self.source.mean, self.source.std) if self.source.mean is not None
                               else _channel_stats(self.labeled))
        self.shortages: list[dict[str, Any]] = []

    def _load(self, ref: SourceRef) -> ImageArrays:
        accepted = sources.accepted_options(ref.name)
        return sources.load(ref.name, ref.split, ref.root or self.config.root,
                            **{k: v for k, v in self.options.items() if k in accepted})

    has_pool = True

    @property
    def num_classes(self) -> int:
        return self.labeled.num_classes

    def describe(self) -> str:
        """One line: the source, rho, n_max, rho_U, relevance and seed."""
        config = self.config
        return (f"{config.source}: rho={config.rho:g} n_max={self.n_max:g} rho_u={config.pool.rho_u:g} "
                f"relevance={config.pool.relevance:g} seed={self.seed}")

    @property
    def shards(self) -> str:
        raise ConfigError(f"data.source = {self.config.source} is held in memory; litdata shards are for the "
                          f"split-file datasets ({', '.join(FILE_SOURCES)})")

    @cached_property
    def pool(self) -> ImageArrays:
        """The unlabeled pool (targets: reference labels, -1 for irrelevant images), followed by the labeled
        images under ``pool.include_labeled``."""
        cfg = self.config.pool
        relevant, candidates = self._train_source, self._pool_candidates
        if cfg.relevant is not None:
            relevant = sources.match_shape(self._load(cfg.relevant), self.labeled.image_shape)
            relevant = align_classes(relevant, self._train_source,
                                     f"data.pool.relevant = {cfg.relevant.name}:{cfg.relevant.split}")
            candidates = np.arange(len(relevant))
        irrelevant = None
        if cfg.irrelevant is not None and cfg.relevance < 1:
            irrelevant = sources.match_shape(self._load(cfg.irrelevant), self.labeled.image_shape)
        pool, self.shortages = build_pool(relevant, candidates, len(self.labeled), cfg, self.source.head_to_tail,
                                          irrelevant, self.rngs)
        return concat([pool, self.labeled]) if cfg.include_labeled else pool

    def manifest(self) -> dict[str, Any]:
        """Per-class counts, index, fingerprint (provenance and targets) and pixel hashes of every split
        built so far."""
        splits = {"test": self.test, "validation": self.val, "labeled": self.labeled}
        if "pool" in self.__dict__:
            splits["pool"] = self.pool
        out: dict[str, Any] = {"seed": self.seed, "source": self.config.source, "n_max": self.n_max}
        for name, arrays in splits.items():
            out[name] = {"size": len(arrays), "class_counts": arrays.class_counts(),
                         "sources": list(arrays.provenance.sources),
                         "indices_sha256": sha256_arrays(arrays.provenance.source_id, arrays.provenance.index),
                         "fingerprint": arrays.fingerprint(), "pixels_sha256": sha256_arrays(arrays.images)}
        if "pool" in splits:
            irrelevant = int((self.pool.targets < 0).sum())
            relevant_counts = self.pool.class_counts()
            out["pool"].update(irrelevant=irrelevant, shortages=self.shortages,
                               relevance=(len(self.pool) - irrelevant) / max(len(self.pool), 1),
                               rho_u=max(relevant_counts) / min(relevant_counts) if min(relevant_counts) else None)
        return out


def align_classes(arrays: ImageArrays, train: ImageArrays, what: str) -> ImageArrays:
    """``arrays`` with its labels renumbered to the class names of the training split ``train``.

    Raises:
        DataError: naming each class of ``arrays`` that ``train`` lacks, or has no image of.
    """
    if arrays.classes == train.classes:
        renumbered = arrays
    else:
        index = {name: label for label, name in enumerate(train.classes)}
        unknown = [name for name in arrays.classes if name not in index]
        if unknown:
            raise DataError(f"{what} has class(es) {', '.join(map(repr, unknown))} that the training split "
                            f"lacks; training classes: {', '.join(train.classes)}")
        # the last entry maps NO_LABEL (-1) to itself
        mapping = np.array([index[name] for name in arrays.classes] + [NO_LABEL], dtype=np.int64)
        renumbered = replace(arrays, targets=mapping[arrays.targets], classes=train.classes)
    counts = np.array(train.class_counts())
    present = np.unique(renumbered.targets[renumbered.targets != NO_LABEL])
    empty = [train.classes[label] for label in present if counts[label] == 0]
    if empty:
        raise DataError(f"{what} has images of class(es) {', '.join(map(repr, empty))}, of which the training "
                        f"split has no image")
    return renumbered


def _shape(arrays: ImageArrays) -> str:
    return "x".join(map(str, arrays.image_shape))


def _loader_options(config: DataConfig) -> dict[str, Any]:
    """The loader options of ``config``; ``download`` or ``image_size`` changed from its default while
    no source of this config reads it is an error rather than silently ignored."""
    used = [config.source]
    if config.pool.relevant is not None:
        used.append(config.pool.relevant.name)
    if config.pool.irrelevant is not None and config.pool.relevance < 1:
        used.append(config.pool.irrelevant.name)
    readers = {name: sources.accepted_options(name) for name in used}
    defaults = DataConfig()
    for option in MUST_TAKE_EFFECT:
        value = getattr(config, option)
        if value != getattr(defaults, option) and not any(option in accepted for accepted in readers.values()):
            takers = sorted(n for n in sources.SOURCES if option in sources.accepted_options(n))
            raise ConfigError(f"data.{option} = {value!r} has no effect: no source of this config "
                              f"({', '.join(used)}) reads it; it applies to {', '.join(takers)}")
    return {option: getattr(config, option) for option in LOADER_OPTIONS}


def _channel_stats(arrays: ImageArrays) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = arrays.images.reshape(-1, arrays.images.shape[-1]) / 255.0
    return tuple(x.mean(0).tolist()), tuple(np.maximum(x.std(0), 1e-3).tolist())
