"""The device path of an AugmentRecipe: batched augmentation with per-sample random parameters, on
whatever device the batch is on.

``BatchAugment`` maps a uint8 (N, H, W, C) batch and a generator to a normalised float (N, C, H, W)
batch, or to a tuple of independently augmented views; ``Standardize`` only normalises.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from imbsemi.data.recipe import MOCO_V2_VIEWS, AugmentRecipe, training_recipe

LUMA = (0.299, 0.587, 0.114)


def uniform(shape: int | tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0, 1) draws of ``shape`` from a CPU ``generator``, moved to ``device``: the same seed gives the same
    augmentation on every device (CUDA's generator draws other numbers)."""
    return torch.rand(shape, generator=generator).to(device)


def _reflect(positions: torch.Tensor, size: int) -> torch.Tensor:
    """Indices into a side of ``size`` pixels of positions in [-size + 1, 2 size - 2], mirrored at the
    edges without repeating the edge pixel (torch's ``reflect`` padding)."""
    positions = positions.abs()
    return torch.where(positions >= size, 2 * (size - 1) - positions, positions)


def crop_flip(images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator,
              padding_mode: str = "constant") -> torch.Tensor:
    """Random crop after padding by ``padding`` pixels, then random horizontal flip (p = 0.5).

    Args:
        images: uint8 (N, H, W, C).
        padding: pixels of padding on each side; each image gets its own offset in [0, 2p].
        flip: whether to flip horizontally with probability 0.5.
        generator: CPU random stream (parameters are drawn on the CPU, then moved).
        padding_mode: constant (zeros) or reflect (mirrored at the edge, as the FixMatch family).
    Returns:
        uint8 (N, H, W, C), as torchvision's RandomCrop(padding, padding_mode) + RandomHorizontalFlip
        per image.
    """
    n, height, width, _ = images.shape
    device = images.device
    if padding:
        dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), generator=generator).to(device)
        dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), generator=generator).to(device)
        rows = dy + torch.arange(height, device=device).view(1, height, 1)
        cols = dx + torch.arange(width, device=device).view(1, 1, width)
        if padding_mode == "reflect":
            source = images
            rows, cols = _reflect(rows - padding, height), _reflect(cols - padding, width)
        else:
            source = F.pad(images, (0, 0, padding, padding, padding, padding))
        images = source[torch.arange(n, device=device).view(n, 1, 1), rows, cols]
    if flip:
        flipped = uniform(n, generator, device) < 0.5
        images = torch.where(flipped.view(n, 1, 1, 1), images.flip(2), images)
    return images


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per channel of a float (N, C, H, W) batch."""
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W), scaled to [0, 1] then standardised per channel."""
    return standardize(to_unit_float(images), mean, std)


def rotate_quarters(images: torch.Tensor, quarters: torch.Tensor) -> torch.Tensor:
    """Rotate image i of (N, C, H, W) by quarters[i] x 90 degrees; one rot90 call per distinct k."""
    out = images.clone()
    for k in range(1, 4):
        chosen = quarters == k
        if chosen.any():
            out[chosen] = torch.rot90(images[chosen], k, dims=(2, 3))
    return out


def balanced_quarters(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Rotation labels for a batch of ``n`` images, as balanced as ``n`` allows, in random order.

    Args:
        n: number of labels.
        generator: CPU random stream (None: torch's default one); the draws are moved to ``device``.
        device: where the labels are made.
    Returns:
        int64 (n,) values in 0..3, each appearing floor(n / 4) or ceil(n / 4) times.
    """
    return torch.randperm(n, generator=generator).to(device) % 4


def sample_crop_boxes(n: int, min_scale: float, generator: torch.Generator,
                      device: torch.device) -> tuple[torch.Tensor, ...]:
    """Per-image (width, height, centre x, centre y) as fractions of the image side / [-1, 1] coords.

    Area ~ U(min_scale, 1) and log aspect ratio ~ U(log 3/4, log 4/3), as RandomResizedCrop;
    a side that would exceed the image is clamped to it. The box always lies inside the image.
    """
    area = min_scale + (1 - min_scale) * uniform(n, generator, device)
    log_ratio = math.log(3 / 4) + math.log(16 / 9) * uniform(n, generator, device)
    ratio = log_ratio.exp()
    width, height = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
    cx = (1 - width) * (2 * uniform(n, generator, device) - 1)
    cy = (1 - height) * (2 * uniform(n, generator, device) - 1)
    return width, height, cx, cy


def resized_crop_flip(x: torch.Tensor, recipe: AugmentRecipe, generator: torch.Generator) -> torch.Tensor:
    """Random resized crop (bilinear, to ``recipe.size`` or the input size) and horizontal flip of float
    (N, C, H, W)."""
    n = len(x)
    width, height, cx, cy = sample_crop_boxes(n, recipe.min_scale, generator, x.device)
    flip = torch.where(uniform(n, generator, x.device) < (0.5 if recipe.flip else 0.0), -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    shape = list(x.shape) if recipe.size is None else [n, x.shape[1], recipe.size, recipe.size]
    grid = F.affine_grid(theta, shape, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _uniform(n: int, spread: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Factors ~ U(1 - spread, 1 + spread), shape (n, 1, 1)."""
    return 1 + spread * (2 * uniform((n, 1, 1), generator, device) - 1)


def _hue_rotation(turns: torch.Tensor) -> torch.Tensor:
    """(n, 3, 3) RGB matrices rotating the hue by ``turns`` of a full turn (a rotation in YIQ space)."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=turns.device)
    angle = 2 * math.pi * turns
    rotation = torch.zeros(len(turns), 3, 3, device=turns.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = angle.cos(), -angle.sin()
    rotation[:, 2, 1], rotation[:, 2, 2] = angle.sin(), angle.cos()
    return torch.linalg.inv(to_yiq) @ rotation @ to_yiq


def color_jitter(x: torch.Tensor, params: AugmentRecipe, generator: torch.Generator) -> torch.Tensor:
    """With probability cj_prob per image: brightness, contrast, saturation and hue jitter (in that
    order), factors ~ U(1 - s, 1 + s) and hue shift ~ U(-cj_hue, cj_hue) turns; then grayscale with
    probability random_gray_scale. Single-channel images get brightness and contrast only.

    The steps compose into one affine colour map per image (out = M x + t, clamped to [0, 1] once),
    so a batch costs one batched matrix product; torchvision clamps between steps and shuffles
    their order, which only matters for saturated pixels.
    """
    n, channels, device = len(x), x.shape[1], x.device
    eye = torch.eye(channels, device=device).expand(n, channels, channels)
    luma = torch.tensor(LUMA, device=device) if channels == 3 else torch.ones(1, device=device)
    gray_rows = luma.view(1, 1, channels).expand(n, channels, channels)  # every output channel = luma
    brightness = _uniform(n, params.cj_bright, generator, device)
    contrast = _uniform(n, params.cj_contrast, generator, device)
    matrix = contrast * brightness * eye
    # contrast blends with the mean gray level of the brightened image
    mean_gray = brightness.view(n) * (x.mean((2, 3)) * luma).sum(1)
    offset = ((1 - contrast.view(n)) * mean_gray).view(n, 1).expand(n, channels)
    if channels == 3:
        saturation = _uniform(n, params.cj_sat, generator, device)
        hue = params.cj_hue * (2 * uniform(n, generator, device) - 1)
        colour = _hue_rotation(hue) @ (saturation * eye + (1 - saturation) * gray_rows)
        matrix, offset = colour @ matrix, (colour @ offset.unsqueeze(2)).squeeze(2)
    applied = uniform(n, generator, device) < params.cj_prob
    matrix = torch.where(applied.view(n, 1, 1), matrix, eye)
    offset = torch.where(applied.view(n, 1), offset, torch.zeros_like(offset))
    if channels == 3:
        to_gray = uniform(n, generator, device) < params.random_gray_scale
        matrix = torch.where(to_gray.view(n, 1, 1), gray_rows @ matrix, matrix)
        offset = torch.where(to_gray.view(n, 1), (gray_rows @ offset.unsqueeze(2)).squeeze(2), offset)
    out = torch.baddbmm(offset.unsqueeze(2), matrix, x.flatten(2))
    return out.clamp_(0, 1).view_as(x)


class Standardize:
    """No augmentation: uint8 batch -> standardised float batch (evaluation, prediction)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean, self.std = mean, std

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return normalize(images, self.mean, self.std)


class BatchAugment(Standardize):
    """A recipe's augmentation of a uint8 (N, H, W, C) batch, with per-image parameters: a standardised
    float (N, C, H', W') batch, or a tuple of ``recipe.count`` independently augmented views.

    The steps follow the recipe's order; parameters are drawn step by step from the generator, so a
    seed gives the same batch on every device. Gaussian blur has no batched version here.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, recipe: AugmentRecipe) -> None:
        super().__init__(mean, std)
        if recipe.blur:
            raise ValueError(f"blur = {recipe.blur}: Gaussian blur is served by the per-image (torchvision) paths "
                             "only, not by the batched device path")
        self.recipe = recipe

    def _augment(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        recipe = self.recipe
        resized = recipe.min_scale is not None
        x = to_unit_float(crop_flip(images, recipe.crop_padding, recipe.flip and not resized, generator,
                                    recipe.padding_mode))
        if resized:
            x = resized_crop_flip(x, recipe, generator)
        if recipe.jitters or recipe.random_gray_scale:
            x = color_jitter(x, recipe, generator)
        return standardize(x, self.mean, self.std)

    def __call__(self, images: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.recipe.count is None:
            return self._augment(images, generator)
        return tuple(self._augment(images, generator) for _ in range(self.recipe.count))


class CropFlipTransform(BatchAugment):
    """Classifier / rotation training views: padded random crop + horizontal flip (spec §3.6)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, padding: int, flip: bool) -> None:
        super().__init__(mean, std, training_recipe(flip=flip, crop_padding=padding))


class AugmentedViews(BatchAugment):
    """``params.count`` independently augmented SSL views per image (random resized crop, flip,
    jitter, gray), as a tuple; MoCo v2's by default."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, params: AugmentRecipe = MOCO_V2_VIEWS) -> None:
        super().__init__(mean, std, params)


class StrongView(Standardize):
    """The FixMatch family's strong view: the padded crop and flip of ``recipe``, then ``randaugment``
    (uint8 batch + generator -> uint8 batch: RandAugment and Cutout), standardised."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, recipe: AugmentRecipe,
                 randaugment: Callable[[torch.Tensor, torch.Generator], torch.Tensor]) -> None:
        super().__init__(mean, std)
        self.recipe, self.randaugment = recipe, randaugment

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        recipe = self.recipe
        cropped = crop_flip(images, recipe.crop_padding, recipe.flip, generator, recipe.padding_mode)
        return normalize(self.randaugment(cropped, generator), self.mean, self.std)
