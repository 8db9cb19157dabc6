"""Pseudo-label quality during joint training, against the pool's reference labels."""
from __future__ import annotations

from typing import Any

import torch


class PseudoLabelStats:
    """Counts over the unlabeled images seen since the last ``reset``: per reference class, how many were
    seen, masked in (confident) and masked in with the right label; per pseudo-label, how many masked in
    and how many of those right. Irrelevant images (reference -1) count as wrong when masked in."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        """Forget everything counted."""
        self.counts: dict[str, torch.Tensor] = {}

    def _add(self, name: str, labels: torch.Tensor, weights: torch.Tensor) -> None:
        total = torch.zeros(self.num_classes + 1, device=labels.device, dtype=torch.float64)
        total.index_add_(0, labels + 1, weights.double())  # slot 0: irrelevant (-1)
        self.counts[name] = self.counts[name] + total if name in self.counts else total

    def update(self, pseudo_labels: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor) -> None:
        """Count one batch: the pseudo-labels (N,), their mask weights (N,) and reference labels (N,)."""
        kept = (mask > 0).to(torch.float64)
        right = kept * (pseudo_labels == reference)
        self._add("seen", reference, torch.ones_like(kept))
        self._add("kept", reference, kept)
        self._add("right", reference, right)
        self._add("predicted", pseudo_labels, kept)
        self._add("predicted_right", pseudo_labels, right)

    def summary(self) -> dict[str, Any]:
        """Mask rate and accuracy of the kept pseudo-labels overall; per class (None where undefined) the
        mask rate and recall (by reference class) and precision (by pseudo-label); the irrelevant
        images' mask rate."""
        if not self.counts:
            return {"mask_rate": None, "accuracy": None, "class_mask_rate": [None] * self.num_classes,
                    "class_recall": [None] * self.num_classes, "class_precision": [None] * self.num_classes,
                    "irrelevant_mask_rate": None}
        seen, kept, right = (self.counts[k].tolist() for k in ("seen", "kept", "right"))
        predicted, predicted_right = self.counts["predicted"].tolist(), self.counts["predicted_right"].tolist()

        def ratio(a: float, b: float) -> float | None:
            return a / b if b else None

        return {"mask_rate": ratio(sum(kept), sum(seen)), "accuracy": ratio(sum(right), sum(kept)),
                "class_mask_rate": [ratio(k, s) for k, s in zip(kept[1:], seen[1:])],
                "class_recall": [ratio(r, s) for r, s in zip(right[1:], seen[1:])],
                "class_precision": [ratio(r, p) for r, p in zip(predicted_right[1:], predicted[1:])],
                "irrelevant_mask_rate": ratio(kept[0], seen[0])}
