"""One AugmentRecipe, three input paths: the batched device path (BatchAugment), the classic in-memory
path (ArrayDataset: PIL images through ``torchvision_transform``) and the split-file path (FileDataset:
PNG files decoded to tensors, through the same transform) draw crops, flips, resized crops, colour jitter
and grayscale from the same distributions.

Each test serves N = 2000 copies of one image whose pixels code their position (or colour), reads back
the parameters every copy was drawn with, and checks each path on its own: the same support, and
frequencies within 6 standard deviations of a binomial frequency (a false failure has probability
< 1e-7 per test, for any seed). Mean 0 and std 1 make every served value pixel / 255.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import BatchAugment
from imbsemi.data.classic import ArrayDataset
from imbsemi.data.file_loader import FileDataset
from imbsemi.data.files import ImageFiles
from imbsemi.data.recipe import AugmentRecipe, torchvision_transform, training_recipe

N, SEED = 2000, 5
MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
PATHS = ("device", "classic", "file")


def six_sd(p: float, draws: int) -> float:
    """Six standard deviations of a binomial frequency with probability ``p`` over ``draws`` draws."""
    return 6 * math.sqrt(p * (1 - p) / draws)


def serve(recipe: AugmentRecipe, image: np.ndarray, folder: Path) -> dict[str, np.ndarray]:
    """N augmented copies of the uint8 (H, W, 3) ``image`` per path, as uint8 (N, H', W', 3)."""
    copies = np.repeat(image[None], N, axis=0)
    device = BatchAugment(torch.tensor(MEAN), torch.tensor(STD), recipe)(torch.from_numpy(copies),
                                                                        torch.Generator().manual_seed(SEED))
    transform = torchvision_transform(recipe, MEAN, STD, image_size=image.shape[0])
    arrays = ImageArrays(copies, np.zeros(N, dtype=np.int64), ("a",), Provenance.single("coded", np.arange(N)))
    classic = ArrayDataset(arrays, transform, SEED)
    Image.fromarray(image).save(folder / "image.png")  # lossless: the file path decodes the same pixels
    files = FileDataset(ImageFiles(folder, np.array(["image.png"] * N), np.zeros(N, dtype=np.int64), ("a",),
                                   "list.txt", np.arange(1, N + 1)), transform, SEED)
    served = {"device": device,
              "classic": torch.stack([classic[(0, i)][0] for i in range(N)]),
              "file": torch.stack([files[(0, i)][0] for i in range(N)])}
    return {path: (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy() for path, x in served.items()}


SIZE, PAD = 8, 2


def test_padded_crop_offsets_and_flips_are_uniform_on_the_same_support(tmp_path: Path) -> None:
    """Pixel (r, c) holds 1 + 8 r + c, so output pixels (3, 3) and (3, 4), which lie inside the image
    whatever the offset, give the offset (dy, dx) in 0..2 PAD and the flip. 2000 draws: per-offset
    frequency 1/25 has sd 0.0044, the flip rate 0.011."""
    image = np.repeat((1 + np.arange(SIZE * SIZE)).reshape(SIZE, SIZE, 1), 3, axis=2).astype(np.uint8)
    padded = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)))
    cells = 2 * PAD + 1
    for path, out in serve(training_recipe(flip=True, crop_padding=PAD), image, tmp_path).items():
        here, right = out[:, 3, 3, 0].astype(np.int64) - 1, out[:, 3, 4, 0].astype(np.int64) - 1
        flipped = right % SIZE < here % SIZE
        dy = here // SIZE - 3 + PAD
        dx = here % SIZE - np.where(flipped, 4, 3) + PAD
        assert dy.min() >= 0 and dy.max() < cells and dx.min() >= 0 and dx.max() < cells, path
        crops = np.stack([padded[y:y + SIZE, x:x + SIZE] for y, x in zip(dy, dx)])
        np.testing.assert_array_equal(out, np.where(flipped.reshape(-1, 1, 1, 1), crops[:, :, ::-1], crops))
        counts = np.bincount(dy * cells + dx, minlength=cells * cells)
        assert counts.min() > 0, path  # every offset drawn
        p = 1 / cells ** 2
        assert np.abs(counts / N - p).max() < six_sd(p, N), path
        assert abs(flipped.mean() - 0.5) < six_sd(0.5, N), path


def test_resized_crops_share_the_scale_and_ratio_ranges(tmp_path: Path) -> None:
    """Channel 0 holds 8 x column and channel 1 8 x row, a linear ramp that bilinear resizing keeps
    linear away from the borders: the slope between output columns 4 and 27 gives the crop's width (its
    sign the flip), that between rows 4 and 27 its height. Crops have area share in [min_scale, 1] and
    aspect ratio in [3/4, 4/3], both ranges covered on every path; the tolerances allow for torchvision's
    whole-pixel boxes (each side rounded, so the ratio of a 13-pixel side is off by up to 7 %) and for
    the uint8 rounding of the ramp (up to 0.4 pixel per side)."""
    side, min_scale = 32, 0.25
    ramp = (8 * np.arange(side)).astype(np.uint8)
    image = np.stack([np.tile(ramp, (side, 1)), np.tile(ramp[:, None], (1, side)), np.full((side, side), 128)],
                     axis=2).astype(np.uint8)
    recipe = training_recipe(flip=True, crop_size=side, min_scale=min_scale)
    for path, out in serve(recipe, image, tmp_path).items():
        assert out.shape == (N, side, side, 3), path
        out = out.astype(np.float64)
        dx = out[:, 16, 27, 0] - out[:, 16, 4, 0]
        width = np.abs(dx) / 23 * side / 8
        height = (out[:, 27, 16, 1] - out[:, 4, 16, 1]) / 23 * side / 8
        area, ratio = width * height / side ** 2, width / height
        assert min_scale - 0.04 <= area.min() < min_scale + 0.1 and 0.9 < area.max() <= 1.04, path
        assert 0.75 / 1.12 <= ratio.min() < 0.85 and 1.2 < ratio.max() <= 4 / 3 * 1.12, path
        assert abs((dx < 0).mean() - 0.5) < six_sd(0.5, N), path


def test_jitter_and_grayscale_apply_with_their_probabilities_and_ranges(tmp_path: Path) -> None:
    """A plain (120, 80, 40) image: grayscale leaves equal channels (p = 0.2); otherwise brightness
    jitter (p = 0.8) scales it by f ~ U(0.6, 1.4), so f > 1.2 and f < 0.8 each have probability
    0.8 x 0.25 = 0.2 among the colour copies."""
    image = np.broadcast_to(np.array([120, 80, 40], dtype=np.uint8), (SIZE, SIZE, 3)).copy()
    recipe = AugmentRecipe(cj_prob=0.8, cj_bright=0.4, random_gray_scale=0.2)
    for path, out in serve(recipe, image, tmp_path).items():
        pixel = out[:, 0, 0].astype(np.float64)
        gray = (pixel[:, 0] == pixel[:, 1]) & (pixel[:, 1] == pixel[:, 2])
        assert abs(gray.mean() - 0.2) < six_sd(0.2, N), path
        factor = pixel[~gray, 0] / 120
        assert 0.6 - 0.01 <= factor.min() and factor.max() <= 1.4 + 0.01, path
        for share in ((factor > 1.2).mean(), (factor < 0.8).mean()):
            assert abs(share - 0.2) < six_sd(0.2, len(factor)), path


@pytest.mark.parametrize("recipe", [AugmentRecipe(min_scale=0.5, flip=True, count=2),
                                    AugmentRecipe(crop_padding=1, count=3)])
def test_count_serves_that_many_views_on_both_implementations(recipe: AugmentRecipe) -> None:
    images = np.arange(4 * SIZE * SIZE * 3, dtype=np.uint8).reshape(4, SIZE, SIZE, 3)
    batch = BatchAugment(torch.tensor(MEAN), torch.tensor(STD), recipe)
    views = batch(torch.from_numpy(images), torch.Generator().manual_seed(0))
    assert len(views) == recipe.count and views[0].shape == (4, 3, SIZE, SIZE)
    per_image = torchvision_transform(recipe, MEAN, STD, image_size=SIZE)(Image.fromarray(images[0]))
    assert len(per_image) == recipe.count and per_image[0].shape == (3, SIZE, SIZE)


def test_blur_is_refused_on_the_device_and_a_size_needs_a_resized_crop() -> None:
    with pytest.raises(ValueError, match="blur = 0.5: Gaussian blur is served by the per-image"):
        BatchAugment(torch.tensor(MEAN), torch.tensor(STD), AugmentRecipe(blur=0.5))
    with pytest.raises(ValueError, match="size = 16 needs a random resized crop"):
        AugmentRecipe(size=16)
