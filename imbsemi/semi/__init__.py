"""Joint labeled + unlabeled training: FixMatch and its long-tail corrections, by name."""
from imbsemi.semi.base import FixMatch

SEMI_METHODS = {
    "fixmatch": FixMatch,
}

__all__ = ["SEMI_METHODS"]
