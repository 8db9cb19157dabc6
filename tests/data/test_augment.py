"""Batched augmentation statistics and the DeviceLoader's epochs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import (AugmentedViews, Standardize, balanced_quarters, color_jitter, crop_flip, normalize,
                                   rotate_quarters, sample_crop_boxes)
from imbsemi.data.loader import DeviceLoader
from imbsemi.data.recipe import MOCO_V2_VIEWS, SIMCLR_VIEWS

IDENTITY = Standardize(torch.tensor([0.0]), torch.tensor([1.0]))


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
    assert abs(visible.float().mean().item() - 9 / 25) < 0.021  # 6 sd of 20,000 draws
    counts = torch.bincount(rows * 3 + cols, minlength=9).float() / visible.sum()
    assert torch.allclose(counts, torch.full((9,), 1 / 9), atol=0.023)  # 6 sd of ~7,200 visible


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_crop_equals_torch_padding_then_the_drawn_crop(mode: str) -> None:
    n, pad = 50, 4
    images = torch.randint(0, 256, (n, 7, 9, 3), dtype=torch.uint8)
    out = crop_flip(images, pad, False, torch.Generator().manual_seed(3), mode)
    offsets = torch.randint(0, 2 * pad + 1, (2, n, 1, 1), generator=torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(images.permute(0, 3, 1, 2).float(), (pad,) * 4, mode=mode)
    for i in range(n):
        dy, dx = offsets[0, i].item(), offsets[1, i].item()
        expected = padded[i, :, dy:dy + 7, dx:dx + 9].permute(1, 2, 0).to(torch.uint8)
        assert torch.equal(out[i], expected)


def test_flip_rate_is_one_half() -> None:
    images = torch.arange(4, dtype=torch.uint8).view(1, 1, 4, 1).repeat(10000, 4, 1, 1)
    out = crop_flip(images, 0, True, torch.Generator().manual_seed(1))
    flipped = (out[:, 0, 0, 0] == 3).float().mean().item()
    assert abs(flipped - 0.5) < 0.03  # 6 sd of 10,000 draws


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
        loader = DeviceLoader(_arrays(10), 4, IDENTITY, shuffle=True, seed=seed)
        return [[int(v) for x, _ in loader for v in (x[:, 0, 0, 0] * 255).round()] for _ in range(2)]
    first = epochs(0)
    assert sorted(first[0]) == list(range(10))  # every image once: batches of 4, 3, 3
    assert first[0] != first[1] and first == epochs(0) and first != epochs(1)


def test_eval_loader_serves_everything_in_order() -> None:
    loader = DeviceLoader(_arrays(10), 4, IDENTITY)
    targets = torch.cat([y for _, y in loader])
    assert len(loader) == 3 and targets.tolist() == (np.arange(10) % 3).tolist()


def test_ddp_ranks_split_one_padded_permutation() -> None:
    def served(rank: int) -> list[int]:
        loader = DeviceLoader(_arrays(21), 3, IDENTITY, shuffle=True, seed=5, rank=rank, world_size=2)
        return [int(v) for x, _ in loader for v in (x[:, 0, 0, 0] * 255).round()]
    first, second = served(0), served(1)
    assert len(first) == len(second) == 11  # 21 images padded to 22, 11 per rank in batches of 3, 3, 3, 2
    assert set(first) | set(second) == set(range(21)) and len(set(first) & set(second)) == 1  # the padding


def test_crop_boxes_follow_random_resized_crop_ranges() -> None:
    width, height, cx, cy = sample_crop_boxes(50_000, 0.2, torch.Generator().manual_seed(0), torch.device("cpu"))
    area = width * height
    assert area.min() >= 0.2 - 1e-6 and area.max() <= 1 + 1e-6
    unclamped = (width < 1) & (height < 1)
    ratio = (width / height)[unclamped]
    assert ratio.min() >= 3 / 4 - 1e-5 and ratio.max() <= 4 / 3 + 1e-5
    assert ((cx.abs() + width) <= 1 + 1e-6).all() and ((cy.abs() + height) <= 1 + 1e-6).all()
    # area ~ U(0.2, 1); small boxes are never clamped, so P(area <= 0.28) = 0.1 exactly
    assert abs((area <= 0.28).float().mean().item() - 0.1) < 0.01


def test_jitter_applies_with_probability_and_keeps_range() -> None:
    x = torch.rand(16000, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = color_jitter(x, MOCO_V2_VIEWS, torch.Generator().manual_seed(0))
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    # jitter p = 0.8, grayscale p = 0.2: unchanged only with neither (0.2 x 0.8 = 0.16)
    assert abs((~changed).float().mean().item() - 0.16) < 0.02  # 6.9 sd of 16,000 draws
    assert out.min() >= 0 and out.max() <= 1
    gray = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert abs(gray.float().mean().item() - 0.2) < 0.02  # 6.3 sd


def test_brightness_factor_range() -> None:
    x = torch.full((10000, 1, 2, 2), 0.5)
    out = color_jitter(x, SIMCLR_VIEWS, torch.Generator().manual_seed(0))[:, 0, 0, 0]
    factors = out[(out - 0.5).abs() > 1e-6] / 0.5
    assert factors.min() >= 0.2 - 1e-4 and factors.max() <= 1.8 + 1e-4  # U(1 - 0.8, 1 + 0.8), clamped at 1
    assert abs(len(factors) / 10000 - 0.8) < 0.03  # 7.5 sd


def test_two_views_differ_and_have_the_input_shape() -> None:
    images = torch.randint(0, 256, (64, 32, 32, 3), dtype=torch.uint8)
    views = AugmentedViews(torch.full((3,), 0.5), torch.full((3,), 0.5))
    first, second = views(images, torch.Generator().manual_seed(0))
    assert first.shape == second.shape == (64, 3, 32, 32)
    assert ((first - second).abs().flatten(1).amax(1) > 0.01).all()


def test_view_count_sets_the_views_per_image_on_both_paths() -> None:
    from dataclasses import replace

    from PIL import Image

    from imbsemi.data.recipe import torchvision_transform
    one = replace(MOCO_V2_VIEWS, count=1)
    images = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    (view,) = AugmentedViews(torch.full((3,), 0.5), torch.full((3,), 0.5), one)(images, torch.Generator())
    assert view.shape == (4, 3, 16, 16)
    (classic,) = torchvision_transform(one, (0.5,) * 3, (0.5,) * 3, 16)(Image.fromarray(images[0].numpy()))
    assert classic.shape == (3, 16, 16)


def test_rotation_labels_are_balanced_per_batch() -> None:
    cpu = torch.device("cpu")
    for n in range(1, 41):
        for seed in range(3):
            quarters = balanced_quarters(n, torch.Generator().manual_seed(seed), cpu)
            assert quarters.dtype == torch.int64 and quarters.shape == (n,)
            assert quarters.min() >= 0 and quarters.max() <= 3
            counts = torch.bincount(quarters, minlength=4)
            assert counts.min() >= n // 4 and counts.max() <= -(-n // 4)
    orders = [balanced_quarters(40, torch.Generator().manual_seed(seed), cpu) for seed in (0, 0, 1)]
    assert torch.equal(orders[0], orders[1]) and not torch.equal(orders[0], orders[2])


def _only(**spreads: float):
    from dataclasses import replace
    zero = dict(cj_bright=0.0, cj_contrast=0.0, cj_sat=0.0, cj_hue=0.0, cj_prob=1.0, random_gray_scale=0.0)
    return replace(MOCO_V2_VIEWS, **{**zero, **spreads})


def test_contrast_scales_around_the_mean_gray_level() -> None:
    x = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, 1, 2, 2).repeat(500, 1, 1, 1)
    out = color_jitter(x, _only(cj_contrast=0.5), torch.Generator().manual_seed(0))
    assert torch.allclose(out.mean((2, 3)), x.mean((2, 3)), atol=1e-6)
    factor = (out - 0.5) / (x - 0.5)  # mean gray 0.5
    assert torch.allclose(factor, factor[:, :, :1, :1].expand_as(factor), atol=1e-5)
    assert factor.min() >= 0.5 - 1e-5 and factor.max() <= 1.5 + 1e-5


def test_saturation_and_hue_keep_the_luma() -> None:
    # within 0.05 of gray, a hue shift up to 0.1 turn (largest row sum of its matrix ~2.4) stays inside [0, 1]
    x = 0.45 + 0.1 * torch.rand(300, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    for params in (_only(cj_sat=0.4), _only(cj_hue=0.1)):
        out = color_jitter(x, params, torch.Generator().manual_seed(1))
        assert torch.allclose((out * luma).sum(1), (x * luma).sum(1), atol=1e-4)
        assert (out - x).abs().amax() > 0.01
