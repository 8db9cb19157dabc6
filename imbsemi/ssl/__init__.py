"""Stage 1: self-supervised pre-training methods, by name."""
from imbsemi.ssl.moco import MoCoV2SSL
from imbsemi.ssl.rotation import RotationSSL
from imbsemi.ssl.simclr import SimCLRSSL

SSL_METHODS = {
    "rotation": RotationSSL,
    "moco_v2": MoCoV2SSL,
    "simclr": SimCLRSSL,
}

__all__ = ["SSL_METHODS"]
