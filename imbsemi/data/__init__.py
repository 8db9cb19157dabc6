"""Data layer: sources -> long-tailed selection -> pools -> device-resident batches."""
from imbsemi.data.sources import SOURCES as DATASETS

__all__ = ["DATASETS"]
