"""imbsemi: class-imbalanced learning with unlabeled data and self-supervision."""

__version__ = "0.1.0"
