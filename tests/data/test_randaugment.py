"""The batched FixMatch strong view (USB's RandAugment + Cutout) against torchvision's per-image ops and
USB's PIL calls."""
from __future__ import annotations

import math

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from imbsemi.data.augment import uniform
from imbsemi.data.randaugment import CUTOUT_FILL, OPS, StrongAugment, cutout, sample_ops

FN = {op.name: op.fn for op in OPS}


def _batch(channels: int, n: int = 6, height: int = 16, width: int = 16, seed: int = 0) -> torch.Tensor:
    """uint8 (n, C, H, W): random pixels in per-image ranges (image 0 constant, image 1 full range)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randint(0, 128, (n, 1, 1, 1), generator=g)
    span = torch.randint(1, 128, (n, 1, 1, 1), generator=g)
    low[1], span[1] = 0, 256
    images = low + (torch.rand(n, channels, height, width, generator=g) * span).long()
    images[0] = 77
    return images.clamp(0, 255).to(torch.uint8)


def _magnitudes(name: str, n: int, seed: int = 1) -> torch.Tensor:
    op = next(op for op in OPS if op.name == name)
    return op.low + (op.high - op.low) * torch.rand(n, generator=torch.Generator().manual_seed(seed))


# torchvision's per-image op with USB's parameter v (geometric: the same inverse map as USB's PIL calls)
REFERENCE = {
    "AutoContrast": lambda img, v: TF.autocontrast(img),
    "Brightness": TF.adjust_brightness,
    "Color": TF.adjust_saturation,
    "Contrast": TF.adjust_contrast,
    "Equalize": lambda img, v: TF.equalize(img),
    "Identity": lambda img, v: img,
    "Posterize": lambda img, v: TF.posterize(img, max(1, int(v))),
    "Rotate": TF.rotate,
    "Sharpness": TF.adjust_sharpness,
    "ShearX": lambda img, v: TF.affine(img, 0.0, [0.0, 0.0], 1.0, [math.degrees(math.atan(v)), 0.0], center=[0, 0]),
    "ShearY": lambda img, v: TF.affine(img, 0.0, [0.0, 0.0], 1.0, [0.0, math.degrees(math.atan(v))], center=[0, 0]),
    "Solarize": TF.solarize,
    "TranslateX": lambda img, v: TF.affine(img, 0.0, [-v * img.shape[2], 0.0], 1.0, [0.0, 0.0]),
    "TranslateY": lambda img, v: TF.affine(img, 0.0, [0.0, -v * img.shape[1]], 1.0, [0.0, 0.0]),
}
NO_PARAMETER = {"AutoContrast", "Equalize", "Identity"}


def _reference(name: str, images: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
    return torch.stack([REFERENCE[name](img, float(v)) for img, v in zip(images, magnitudes)])


def _mismatch(a: torch.Tensor, b: torch.Tensor) -> tuple[float, int]:
    """(share of differing pixel values, largest absolute difference)."""
    diff = (a.int() - b.int()).abs()
    return (diff > 0).float().mean().item(), int(diff.max())


# torch's CPU add(a, b, alpha=) (torchvision's blends) fuses the multiply-add in its vector loop but not in the
# scalar tail of a row of pixels; the batched blends fuse everywhere, so where a blend lands on an integer a
# tail pixel can differ by one grey level: tolerance 1 level on at most 1 % of the values for these ops
BLENDS = {"Color", "Contrast", "Sharpness"}


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", [op.name for op in OPS])
def test_each_op_equals_torchvision_per_image(name: str, channels: int) -> None:
    images, magnitudes = _batch(channels, height=15, width=21), _magnitudes(name, 6)
    out = FN[name](images.clone(), magnitudes)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    share, largest = _mismatch(out, _reference(name, images, magnitudes))
    assert (share, largest) == (0.0, 0) or (name in BLENDS and share <= 0.01 and largest <= 1)
    # the comparison can fail: another sample's magnitude (or no op) gives another image
    if name == "Identity" or (name == "Color" and channels == 1):
        assert torch.equal(out, images)
    elif name in NO_PARAMETER:
        assert _mismatch(out, images)[0] > 0.1
    else:
        assert _mismatch(out, _reference(name, images, magnitudes.roll(1)))[0] > 0.1


def test_integer_magnitudes() -> None:
    # Solarize inverts pixels >= the threshold (PIL keeps i < threshold); Posterize keeps int(v) bits
    images = _batch(3)  # image 0 is constant 77
    thresholds = torch.tensor([77.0, 0.0, 1.0, 128.0, 254.0, 255.0])
    assert torch.equal(FN["Solarize"](images, thresholds), _reference("Solarize", images, thresholds))
    assert (FN["Solarize"](images, thresholds)[0] == 178).all()
    assert torch.equal(FN["Solarize"](images, torch.full((6,), 255.5)), images)  # USB's range reaches 256
    bits = torch.tensor([4.0, 5.0, 6.0, 7.0, 8.0, 4.999])
    assert torch.equal(FN["Posterize"](images, bits), _reference("Posterize", images, bits))


@pytest.mark.parametrize("name", ["Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"])
def test_geometric_ops_follow_usb_pil_calls(name: str) -> None:
    # USB's PIL calls (nearest, black fill); PIL floors the source coordinate where grid_sample rounds half
    # to even, which differs only at exact ties: tolerance 0.5 % of the pixels
    images, magnitudes = _batch(3, height=16, width=20), _magnitudes(name, 6)
    out = FN[name](images.clone(), magnitudes)
    for img, v, got in zip(images, magnitudes.tolist(), out):
        pil = PIL.Image.fromarray(img.permute(1, 2, 0).numpy())
        w, h = pil.size
        usb = {"Rotate": lambda: pil.rotate(v),
               "ShearX": lambda: pil.transform(pil.size, PIL.Image.AFFINE, (1, v, 0, 0, 1, 0)),
               "ShearY": lambda: pil.transform(pil.size, PIL.Image.AFFINE, (1, 0, 0, v, 1, 0)),
               "TranslateX": lambda: pil.transform(pil.size, PIL.Image.AFFINE, (1, 0, v * w, 0, 1, 0)),
               "TranslateY": lambda: pil.transform(pil.size, PIL.Image.AFFINE, (1, 0, 0, 0, 1, v * h))}[name]()
        share, _ = _mismatch(got, torch.from_numpy(np.array(usb)).permute(2, 0, 1))
        assert share <= 0.005


def _usb_cutout(img: torch.Tensor, v: float, u: tuple[float, float]) -> torch.Tensor:
    """USB's Cutout / CutoutAbs on PIL, with np.random.uniform(w) = w + (1 - w) u given."""
    pil = PIL.Image.fromarray(img.permute(1, 2, 0).numpy())
    w, h = pil.size
    v = v * w
    if v <= 0:
        return img
    x0, y0 = int(max(0, w + (1 - w) * u[0] - v / 2.0)), int(max(0, h + (1 - h) * u[1] - v / 2.0))
    PIL.ImageDraw.Draw(pil).rectangle((x0, y0, min(w, x0 + v), min(h, y0 + v)), CUTOUT_FILL)
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1)


def test_cutout_square_size_fill_and_usb() -> None:
    n, height, width = 40, 12, 16
    images = _batch(3, n, height, width, seed=3)
    size = 0.5 * torch.rand(n, generator=torch.Generator().manual_seed(4))
    size[0] = 0.0
    out = cutout(images, size, torch.Generator().manual_seed(5))
    centre = uniform((2, n), torch.Generator().manual_seed(5), torch.device("cpu"))
    for i in range(n):
        changed = (out[i] != images[i]).any(0)
        side = int(size[i] * width) + 1 if size[i] > 0 else 0  # PIL's rectangle includes both ends
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        if side:
            # a side x side block, clipped at the right / bottom edges only
            top, left = rows.min().item(), cols.min().item()
            block = torch.zeros_like(changed)
            block[top:top + side, left:left + side] = True
            assert len(rows) == min(side, height - top) and len(cols) == min(side, width - left)
        else:
            block = torch.zeros_like(changed)
        fill = torch.tensor(CUTOUT_FILL, dtype=torch.uint8).view(3, 1)
        assert torch.equal(out[i][:, block], fill.expand(3, int(block.sum())))
        assert torch.equal(out[i][:, ~block], images[i][:, ~block])
        assert torch.equal(out[i], _usb_cutout(images[i], float(size[i]), (float(centre[0, i]), float(centre[1, i]))))


def test_cutout_single_channel_fill() -> None:
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    out = cutout(images, torch.full((4,), 0.4), torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) == {0, 123} and ((out == 123).flatten(1).sum(1) > 0).all()


def test_op_choices_uniform_and_per_sample() -> None:
    n = 5000
    ops, magnitudes = sample_ops(n, 2, torch.Generator().manual_seed(0))
    counts = torch.bincount(ops.flatten(), minlength=len(OPS)).double()
    p, draws = 1 / len(OPS), ops.numel()
    assert ((counts - draws * p).abs() <= 6 * math.sqrt(draws * p * (1 - p))).all()
    for index, op in enumerate(OPS):
        chosen = magnitudes[ops == index]
        assert (chosen >= op.low).all() and (chosen <= op.high).all()
        assert chosen.unique().numel() >= 0.99 * chosen.numel()  # a magnitude per sample and slot
    # one batch of copies of one image: many op pairs, and (nearly) all outputs differ
    copies = _batch(3, 2, 16, 16, seed=2)[1].permute(1, 2, 0).expand(64, 16, 16, 3).contiguous()
    ops, _ = sample_ops(64, 2, torch.Generator().manual_seed(7))
    assert ops[:, 0].unique().numel() >= 10 and ops.unique(dim=0).shape[0] >= 40
    out = StrongAugment()(copies, torch.Generator().manual_seed(7))
    assert out.unique(dim=0).shape[0] >= 60


def test_deterministic_per_seed() -> None:
    images = _batch(3, 32, 16, 16, seed=4).permute(0, 2, 3, 1).contiguous()
    augment = StrongAugment()
    first = augment(images, torch.Generator().manual_seed(11))
    assert torch.equal(first, augment(images, torch.Generator().manual_seed(11)))
    assert not torch.equal(first, augment(images, torch.Generator().manual_seed(12)))


@pytest.mark.parametrize("channels,height,width", [(3, 16, 16), (1, 12, 20), (3, 9, 7)])
def test_shape_dtype_device(channels: int, height: int, width: int) -> None:
    images = _batch(channels, 20, height, width, seed=5).permute(0, 2, 3, 1).contiguous()
    before = images.clone()
    out = StrongAugment(num_ops=3)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8 and out.device == images.device
    assert torch.equal(images, before)  # the input is left as it was
    assert not torch.equal(out, images)


@pytest.mark.gpu
def test_same_output_on_cuda() -> None:
    images = _batch(3, 64, 32, 32, seed=6).permute(0, 2, 3, 1).contiguous()
    augment = StrongAugment()
    cpu = augment(images, torch.Generator().manual_seed(3))
    cuda = augment(images.cuda(), torch.Generator().manual_seed(3))
    assert cuda.is_cuda and torch.equal(cuda.cpu(), cpu)
