"""Pseudo-labels of an unlabeled pool: prediction in batches and the PseudoLabels file
(``.npz`` arrays + ``.json`` provenance sidecar, both written atomically)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from imbsemi.data.arrays import ImageArrays
from imbsemi.errors import DataError
from imbsemi.io import atomic_write, write_json


@dataclass(frozen=True)
class PseudoLabels:
    """One hard label (argmax) and its confidence (max softmax) per pool image, with provenance
    (``pool_fingerprint``, ``pool_size``, ``checkpoint_sha256``, ``seed``, ...)."""
    labels: np.ndarray
    confidences: np.ndarray
    provenance: dict[str, Any]

    def save(self, path: str | Path) -> None:
        """Write ``path`` (.npz) and its ``.json`` sidecar."""
        path = Path(path)
        with atomic_write(path) as handle:
            np.savez(handle, labels=self.labels, confidences=self.confidences)
        write_json(path.with_suffix(".json"), self.provenance)

    @classmethod
    def load(cls, path: str | Path) -> "PseudoLabels":
        """Read and validate a PseudoLabels file and its sidecar."""
        path, sidecar = Path(path), Path(path).with_suffix(".json")
        for file in (path, sidecar):
            if not file.is_file():
                raise DataError(f"pseudo-label file {file} does not exist")
        try:
            with np.load(path) as arrays:
                labels, confidences = arrays["labels"], arrays["confidences"]
            provenance = json.loads(sidecar.read_text())
        except KeyError as err:
            raise DataError(f"pseudo-label file {path}: missing array {err}; expected labels, confidences") from err
        except (OSError, ValueError) as err:
            raise DataError(f"pseudo-label file {path} or {sidecar} cannot be read: {err}") from err
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or confidences.shape != labels.shape:
            raise DataError(f"pseudo-label file {path}: expected integer labels (N,) and confidences (N,), "
                            f"got {labels.dtype} {labels.shape} and {confidences.shape}")
        if not np.isfinite(confidences).all():
            raise DataError(f"pseudo-label file {path}: confidences contain NaN or inf")
        return cls(labels.astype(np.int64), confidences.astype(np.float32), provenance)

    def check_pool(self, pool: ImageArrays, path: str | Path) -> None:
        """Refuse labels that were predicted for another pool."""
        expected = pool.fingerprint()
        found = self.provenance.get("pool_fingerprint")
        if found != expected or len(self.labels) != len(pool):
            raise DataError(f"pseudo-label file {path} was made for another pool "
                            f"({len(self.labels)} images, fingerprint {str(found)[:12]}); this config's pool "
                            f"has {len(pool)} images, fingerprint {expected[:12]}")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= pool.num_classes):
            raise DataError(f"pseudo-label file {path}: labels must be in [0, {pool.num_classes - 1}]")


@torch.inference_mode()
def predict(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
            device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(argmax labels int64, max-softmax confidences float32) of ``model`` over ``batches``."""
    model = model.to(device).eval()
    labels, confidences = [], []
    for images, _ in batches:
        probs = model(images.to(device)).float().softmax(1)
        confidence, label = probs.max(1)
        labels.append(label.cpu())
        confidences.append(confidence.cpu())
    return torch.cat(labels).numpy().astype(np.int64), torch.cat(confidences).numpy().astype(np.float32)
