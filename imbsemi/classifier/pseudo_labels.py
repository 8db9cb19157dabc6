"""Pseudo-labels of an unlabeled pool: prediction in batches and the PseudoLabels file
(``.npz`` arrays + ``.json`` provenance sidecar, both written atomically)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from imbsemi.data.arrays import ImageArrays
from imbsemi.errors import DataError
from imbsemi.io import atomic_write, read_json, read_npz, read_pickle, write_json


@dataclass(frozen=True)
class PseudoLabels:
    """One hard label (argmax) and its confidence (max softmax) per pool image, optionally the full
    softmax (N, C) for soft targets, with provenance (``pool_fingerprint``, ``pool_size``,
    ``checkpoint_sha256``, ``seed``, ...)."""
    labels: np.ndarray
    confidences: np.ndarray
    provenance: dict[str, Any]
    probabilities: np.ndarray | None = None

    def save(self, path: str | Path) -> None:
        """Write ``path`` (.npz) and its ``.json`` sidecar."""
        path = Path(path)
        extra = {} if self.probabilities is None else {"probabilities": self.probabilities}
        with atomic_write(path) as handle:
            np.savez(handle, labels=self.labels, confidences=self.confidences, **extra)
        write_json(path.with_suffix(".json"), self.provenance)

    @classmethod
    def load(cls, path: str | Path) -> "PseudoLabels":
        """Read and validate a PseudoLabels file and its sidecar, or an original-code pickle (.pickle/.pkl)."""
        if Path(path).suffix in (".pickle", ".pkl"):
            return cls.load_original(Path(path))
        path, sidecar = Path(path), Path(path).with_suffix(".json")
        arrays = read_npz(path, "pseudo-label")
        missing = sorted({"labels", "confidences"} - set(arrays))
        if missing:
            raise DataError(f"pseudo-label file {path}: missing array {', '.join(missing)}; "
                            f"expected labels, confidences (and optionally probabilities)")
        if not sidecar.is_file():
            raise DataError(f"pseudo-label file {sidecar} does not exist (the provenance of {path.name})")
        labels, confidences, probabilities = arrays["labels"], arrays["confidences"], arrays.get("probabilities")
        provenance = read_json(sidecar)
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or confidences.shape != labels.shape:
            raise DataError(f"pseudo-label file {path}: expected integer labels (N,) and confidences (N,), "
                            f"got {labels.dtype} {labels.shape} and {confidences.shape}")
        if not np.isfinite(confidences).all():
            raise DataError(f"pseudo-label file {path}: confidences contain NaN or inf")
        if len(confidences) and (confidences.min() < 0 or confidences.max() > 1):
            raise DataError(f"pseudo-label file {path}: confidences must be in [0, 1] (softmax maxima), got "
                            f"[{confidences.min():g}, {confidences.max():g}]")
        if probabilities is not None and (len(probabilities) != len(labels) or not np.isfinite(probabilities).all()):
            raise DataError(f"pseudo-label file {path}: probabilities must be finite, one row per label; "
                            f"got {probabilities.shape}")
        return cls(labels.astype(np.int64), confidences.astype(np.float32), provenance,
                   None if probabilities is None else probabilities.astype(np.float32))

    @classmethod
    def load_original(cls, path: Path) -> "PseudoLabels":
        """The original code's pseudo-label pickle (spec §4.1-4.2): ``extrapolated_targets`` (one
        label per image of the whole source: the 500K Tiny-Images or SVHN extra), ``prediction_model``
        and, for SVHN, ``ground_truth``. It has no confidences: they are set to 1."""
        content = read_pickle(path, "pseudo-label pickle")
        if not isinstance(content, dict) or "extrapolated_targets" not in content:
            found = sorted(content) if isinstance(content, dict) else type(content).__name__
            raise DataError(f"pseudo-label pickle {path}: missing key 'extrapolated_targets'; found {found}")
        labels = np.asarray(content["extrapolated_targets"])
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"pseudo-label pickle {path}: extrapolated_targets must be integers (N,), "
                            f"got {labels.dtype} {labels.shape}")
        provenance = {"format": "original", "source_size": len(labels),
                      "prediction_model": str(content.get("prediction_model"))}
        return cls(labels.astype(np.int64), np.ones(len(labels), np.float32), provenance)

    def for_pool(self, pool: ImageArrays, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidences) of each pool image: this file's own if it was made for this pool;
        for an original-code pickle, the entries at the pool images' indices in their source."""
        if self.provenance.get("format") != "original":
            self.check_pool(pool, path)
            return self.labels, self.confidences
        if len(pool.provenance.sources) != 1 or (pool.targets < 0).any():
            raise DataError(f"pseudo-label pickle {path} labels one source; this pool mixes "
                            f"{', '.join(pool.provenance.sources)} (set data.pool.relevance: 1)")
        index = pool.provenance.index
        if len(index) and index.max() >= len(self.labels):
            raise DataError(f"pseudo-label pickle {path} has {len(self.labels)} labels; the pool uses image "
                            f"{index.max()} of {pool.provenance.sources[0]}")
        return self.labels[index], self.confidences[index]

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
        if self.probabilities is not None and self.probabilities.shape[1:] != (pool.num_classes,):
            raise DataError(f"pseudo-label file {path}: probabilities have {self.probabilities.shape[1:]} columns; "
                            f"the pool's data has {pool.num_classes} classes")


@torch.inference_mode()
def predict(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
            device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(argmax labels int64, max-softmax confidences, softmax (N, C)) of ``model`` over ``batches``."""
    model = model.to(device).eval()
    probabilities = torch.cat([model(images.to(device)).float().softmax(1).cpu() for images, _ in batches])
    confidences, labels = probabilities.max(1)
    return labels.numpy().astype(np.int64), confidences.numpy(), probabilities.numpy()
