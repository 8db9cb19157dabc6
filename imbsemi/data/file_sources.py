"""The registered split-file datasets: already long-tailed, defined by the split files of the
benchmarks (spec §3.7), used as they are. Imported by config loading, so torch-free."""
from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INAT_STATS = ((0.466, 0.471, 0.380), (0.195, 0.194, 0.192))


@dataclass(frozen=True)
class FileSource:
    """Default split files (relative to ``data.root``, where the image paths they list start) and the
    normalisation of one benchmark. iNaturalist 2018 has no test labels: its test split is val, as in
    the original code (best on val, reported on val)."""
    files: dict[str, str]
    mean: tuple[float, ...]
    std: tuple[float, ...]


FILE_SOURCES = {
    "imagenet_lt": FileSource({split: f"ImageNet_LT_{split}.txt" for split in SPLITS}, *IMAGENET_STATS),
    "places_lt": FileSource({split: f"Places_LT_{split}.txt" for split in SPLITS}, *IMAGENET_STATS),
    "inat2018": FileSource({"train": "iNaturalist18_train.txt", "val": "iNaturalist18_val.txt",
                            "test": "iNaturalist18_val.txt"}, *INAT_STATS),
}
