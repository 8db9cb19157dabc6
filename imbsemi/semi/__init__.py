"""Joint labeled + unlabeled training: FixMatch and its long-tail corrections, by name."""
from imbsemi.semi.abc import ABC
from imbsemi.semi.acr import ACR
from imbsemi.semi.base import FixMatch
from imbsemi.semi.crest import CReST
from imbsemi.semi.darp import DARP
from imbsemi.semi.daso import DASO

SEMI_METHODS = {
    "fixmatch": FixMatch,
    "darp": DARP,
    "crest": CReST,
    "acr": ACR,
    "abc": ABC,
    "daso": DASO,
}

__all__ = ["SEMI_METHODS"]
