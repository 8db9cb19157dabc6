"""Batched augmentation statistics and the DeviceLoader's epochs."""
from __future__ import annotations

import numpy as np
import torch

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import crop_flip, normalize, rotate_quarters
from imbsemi.data.loader import DeviceLoader


def test_crop_offsets_cover_the_range_uniformly() -> None:
    n, pad = 20000, 2
    # one bright pixel at (0, 0): after cropping it lands at (pad - dy, pad - dx) when inside
    images = torch.zeros(n, 6, 6, 1, dtype=torch.uint8)
    images[:, 0, 0] = 255
    out = crop_flip(images, pad, False, torch.Generator().manual_seed(0))
    found = out[..., 0].flatten(1).argmax(1)
    visible = out[..., 0].flatten(1).max(1).values == 255
    rows, cols = found[visible] // 6, found[visible] % 6
    # pixel visible iff dy <= pad and dx <= pad: 3 x 3 of 5 x 5 offsets
    assert abs(visible.float().mean().item() - 9 / 25) < 0.02
    counts = torch.bincount(rows * 3 + cols, minlength=9).float() / visible.sum()
    assert torch.allclose(counts, torch.full((9,), 1 / 9), atol=0.015)


def test_flip_rate_is_one_half() -> None:
    images = torch.arange(4, dtype=torch.uint8).view(1, 1, 4, 1).repeat(10000, 4, 1, 1)
    out = crop_flip(images, 0, True, torch.Generator().manual_seed(1))
    flipped = (out[:, 0, 0, 0] == 3).float().mean().item()
    assert abs(flipped - 0.5) < 0.02


def test_rotate_quarters_matches_rot90() -> None:
    images = torch.randn(8, 2, 5, 5)
    quarters = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    out = rotate_quarters(images, quarters)
    for i, k in enumerate(quarters.tolist()):
        assert torch.equal(out[i], torch.rot90(images[i], k, dims=(1, 2)))


def test_normalize_layout_and_values() -> None:
    images = torch.full((2, 3, 3, 1), 51, dtype=torch.uint8)
    out = normalize(images, torch.tensor([0.1]), torch.tensor([0.5]))
    assert out.shape == (2, 1, 3, 3) and torch.allclose(out, torch.full_like(out, (0.2 - 0.1) / 0.5))


def _arrays(n: int) -> ImageArrays:
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(4, 1).repeat(4, 2)
    return ImageArrays(images, np.arange(n) % 3, ("a", "b", "c"), Provenance.single("toy", np.arange(n)))


def test_loader_epochs_are_seeded_permutations() -> None:
    def epochs(seed: int) -> list[list[int]]:
        loader = DeviceLoader(_arrays(10), 4, mean=[0.0], std=[1.0], shuffle=True, seed=seed)
        return [[int(v) for x, _ in loader for v in (x[:, 0, 0, 0] * 255).round()] for _ in range(2)]
    first = epochs(0)
    assert len(first[0]) == 8 and len(set(first[0])) == 8  # 2 full batches, no repeats
    assert first[0] != first[1] and first == epochs(0) and first != epochs(1)


def test_eval_loader_serves_everything_in_order() -> None:
    loader = DeviceLoader(_arrays(10), 4, mean=[0.0], std=[1.0])
    targets = torch.cat([y for _, y in loader])
    assert len(loader) == 3 and targets.tolist() == (np.arange(10) % 3).tolist()
