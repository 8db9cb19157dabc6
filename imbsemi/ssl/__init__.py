"""Stage 1: self-supervised pre-training methods, by name."""
from imbsemi.ssl.rotation import RotationSSL

SSL_METHODS = {
    "rotation": RotationSSL,
}

__all__ = ["SSL_METHODS"]
