"""Batched augmentation with per-sample random parameters, on whatever device the batch is on."""
from __future__ import annotations

import torch


def crop_flip(images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding by ``padding`` pixels, then random horizontal flip (p = 0.5).

    Args:
        images: uint8 (N, H, W, C).
        padding: pixels of zero padding on each side; each image gets its own offset in [0, 2p].
        flip: whether to flip horizontally with probability 0.5.
        generator: random stream on ``images.device``.
    Returns:
        uint8 (N, H, W, C), as torchvision's RandomCrop(padding) + RandomHorizontalFlip per image.
    """
    n, height, width, _ = images.shape
    device = images.device
    if padding:
        padded = torch.nn.functional.pad(images, (0, 0, padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=device, generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=device, generator=generator)
        rows = dy + torch.arange(height, device=device).view(1, height, 1)
        cols = dx + torch.arange(width, device=device).view(1, 1, width)
        images = padded[torch.arange(n, device=device).view(n, 1, 1), rows, cols]
    if flip:
        flipped = torch.rand(n, device=device, generator=generator) < 0.5
        images = torch.where(flipped.view(n, 1, 1, 1), images.flip(2), images)
    return images


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W), scaled to [0, 1] then standardised per channel."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def rotate_quarters(images: torch.Tensor, quarters: torch.Tensor) -> torch.Tensor:
    """Rotate image i of (N, C, H, W) by quarters[i] x 90 degrees; one rot90 call per distinct k."""
    out = images.clone()
    for k in range(1, 4):
        chosen = quarters == k
        if chosen.any():
            out[chosen] = torch.rot90(images[chosen], k, dims=(2, 3))
    return out
