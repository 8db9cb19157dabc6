"""Sharded streaming of a split-file training set with litdata (``data.loader: litdata``): the split is
written once into chunks of the encoded image files (as they are, not re-encoded) (``litdata.optimize``), then
streamed per rank from local disk or an object store (``litdata.StreamingDataset``), each rank and
worker reading only its own chunks. For multi-node runs, where reading 100,000s of small files per
epoch is the bottleneck."""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from litdata import StreamingDataLoader, StreamingDataset, optimize
from torchvision.io import ImageReadMode, decode_image

from imbsemi.data.epoch_sampler import seeded_streams
from imbsemi.data.files import ImageFiles
from imbsemi.errors import ConfigError, DataError
from imbsemi.io import read_json, write_json

log = logging.getLogger("imbsemi")
RECORD = "imbsemi_shards.json"  # beside litdata's index.json: which split file the shards hold


class _EncodedImage:
    """``index`` -> the shard item of image ``index``: its encoded file bytes, label and index."""

    def __init__(self, files: ImageFiles) -> None:
        self.files = files

    def __call__(self, index: int) -> dict[str, Any]:
        return {"index": index, "label": int(self.files.targets[index]), "image": self.files.path(index).read_bytes()}


def shard_record(files: ImageFiles) -> dict[str, Any]:
    """What the shards of ``files`` are made of: the split file and the fingerprint of its entries."""
    return {"listing": files.listing, "size": len(files), "fingerprint": files.fingerprint()}


def is_url(location: str | Path) -> bool:
    """Whether shards live in an object store (``s3://...``, ``gs://...``) rather than a folder."""
    return "://" in str(location)


def write_shards(files: ImageFiles, folder: str | Path, chunk_bytes: str = "64MB", workers: int = 1) -> Path:
    """Write ``files`` (in their order) as litdata shards into the local ``folder``, atomically: built
    beside it, then renamed over it; an older ``folder`` is replaced. Returns ``folder``. (For an object
    store, write them locally and copy the folder there.)"""
    if is_url(folder):
        raise ConfigError(f"data.shards = {folder}: shards are written to a local folder (then copied to the "
                          "object store, from which data.loader: litdata streams them)")
    files.check_exist()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        optimize(fn=_EncodedImage(files), inputs=list(range(len(files))), output_dir=str(building),
                 chunk_bytes=chunk_bytes, num_workers=workers, reorder_files=False, verbose=False)
        index = read_json(building / "index.json") if (building / "index.json").is_file() else {}
        written = sum(chunk["chunk_size"] for chunk in index.get("chunks", []))
        if written != len(files):  # litdata reports a failed worker on stderr only
            raise DataError(f"writing the shards of {files.listing}: litdata wrote {written} of {len(files)} images "
                            "(see its messages above)")
        write_json(building / RECORD, shard_record(files))
        if folder.exists():
            shutil.rmtree(folder)
        building.rename(folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return folder


def check_shards(files: ImageFiles, folder: Path) -> None:
    """Raise a ConfigError unless ``folder`` holds the shards of exactly ``files``."""
    record = Path(folder) / RECORD
    hint = f"write them with `imbsemi data shards --config ...` (it reads {files.listing})"
    if not record.is_file():
        raise ConfigError(f"data.shards = {folder}: no shards there; {hint}")
    if read_json(record) != shard_record(files):
        raise ConfigError(f"data.shards = {folder}: the shards hold another list than {files.listing} (it changed "
                          f"since they were written); {hint}")


class ShardDataset(StreamingDataset):
    """The streamed training images: decoded and put through ``transform`` with the random streams
    seeded by (seed, epoch, image index), as the file path (litdata's epochs count from 1)."""

    def __init__(self, location: str | Path, transform: Callable[[torch.Tensor], Any], seed: int,
                 drop_last: bool) -> None:
        # None: litdata's choice, every image on one process and equal shards (the rest dropped) across
        # ranks, which DDP's collectives need
        super().__init__(str(location), shuffle=True, seed=seed, drop_last=drop_last or None)
        self.image_transform, self.image_seed = transform, seed

    def __getitem__(self, index: Any) -> tuple[Any, int]:
        item = super().__getitem__(index)
        try:
            image = decode_image(torch.frombuffer(bytearray(item["image"]), dtype=torch.uint8), mode=ImageReadMode.RGB)
        except RuntimeError as err:
            raise DataError(f"shards {self.input_dir.path}: image {item['index']} cannot be decoded: {err}") from err
        with seeded_streams(self.image_seed, self.current_epoch - 1, item["index"]):
            return self.image_transform(image), item["label"]


def shard_loader(files: ImageFiles, location: str | Path, transform: Callable[[torch.Tensor], Any], batch_size: int,
                 seed: int, drop_last: bool, epoch: int) -> StreamingDataLoader:
    """Batches streamed from the shards of ``files`` at ``location`` (a folder, or an object-store URL
    such as ``s3://bucket/imagenet_lt_train`` that litdata reads) by ``files.recipe.workers`` processes,
    shuffled by (seed, epoch) and split over the ranks by litdata; the first epoch served is ``epoch``.
    Local shards are checked to hold ``files``; remote ones are taken as they are."""
    if is_url(location):
        log.info("streaming the shards at %s (remote: not checked against %s)", location, files.listing)
    else:
        check_shards(files, Path(location))
    loader = StreamingDataLoader(ShardDataset(location, transform, seed, drop_last), batch_size=batch_size,
                                 num_workers=files.recipe.workers, persistent_workers=files.recipe.workers > 0)
    loader.current_epoch = epoch  # each pass counts one up first: epoch e is litdata's e + 1
    return loader
