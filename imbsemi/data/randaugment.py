"""FixMatch's strong view, batched: RandAugment with random magnitudes, then Cutout, with per-sample random
parameters, on whatever device the batch is on.

Source followed: USB (microsoft/Semi-supervised-learning), ``semilearn/datasets/augmentation/randaugment.py``:
``RandAugment.__call__`` (FixMatch's variant), ``augment_list`` and ``Cutout`` / ``CutoutAbs``. Per image:

- ``num_ops`` ops drawn uniformly with replacement from the 14 of ``OPS``; each gets its own magnitude
  ``low + (high - low) * U(0, 1)`` with USB's (low, high): Brightness, Color, Contrast, Sharpness factors in
  [0.05, 0.95]; Rotate [-30, 30] degrees (counter-clockwise, about the centre); ShearX / ShearY [-0.3, 0.3]
  (PIL's affine coefficient, about the top-left corner); TranslateX / TranslateY [-0.3, 0.3] of the width /
  height; Posterize bits ``max(1, int(v))``, v in [4, 8]; Solarize threshold in [0, 256) (pixels >= it are
  inverted); AutoContrast, Equalize, Identity ignore it. USB's sign flips are commented out: the symmetric
  ranges give the sign. Geometric ops resample nearest and fill black, as PIL's ``rotate`` / ``transform``.
- Cutout: ``v = U(0, 1) * cutout * width`` pixels (none when v = 0); the centre is ``np.random.uniform(w)``,
  i.e. uniform in (1, w] (numpy's ``low`` argument; likewise for the height); the corner is
  ``x0 = int(max(0, cx - v / 2))``, and PIL's ``rectangle((x0, y0, min(w, x0 + v), min(h, y0 + v)))`` fills
  the columns x0 .. int(x0 + v) and rows y0 .. int(y0 + v), both ends included and clipped to the image: a
  square of side ``int(v) + 1``, colour (125, 123, 114).

Departures: the pixel arithmetic is torchvision's on uint8 tensors (``transforms.v2.functional``, which the tests
match: float32 blends truncated to uint8 with the multiply-add fused as torch's CPU kernels do, grey =
0.2989 R + 0.587 G + 0.114 B floored, Contrast's mean not rounded, nearest resampling by ``grid_sample``, which
rounds half to even where PIL floors), not PIL's. Against USB's PIL calls (Pillow 13, random 32 x 32 images):
Brightness, Equalize, Posterize, Sharpness, Solarize, Shear and Translate agree exactly, Rotate on all but
~1e-4 of the pixels, AutoContrast, Color and Contrast within one grey level (on 15-30 % of the values).
Single-channel images: Color is the identity and Cutout fills 123, PIL's grey of (125, 123, 114) (USB's PIL
call rejects a colour triple on a grey image).
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from imbsemi.data.augment import uniform

CUTOUT_FILL = (125, 123, 114)
CUTOUT_FILL_GREY = 123


def _col(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def _blend(x: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's ``_blend`` with a factor per sample: x f + degenerate (1 - f), truncated to uint8."""
    f = _col(factor)
    return _fma(x.float().mul(f), 1 - f, degenerate).clamp_(0, 255).to(torch.uint8)


def _fma(a: torch.Tensor, alpha: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """float32 a + alpha b rounded once, as the fused multiply-add of torch's ``add(a, b, alpha=)`` (the product
    of two float32 is exact in float64): torchvision's rounding, the same on every device."""
    return a.double().add_(alpha.double() * b.double()).float()


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Floored luma (m, 1, H, W) of uint8 RGB, as torchvision's ``rgb_to_grayscale`` inside its blends."""
    r, g, b = x.float().unbind(1)
    w = torch.tensor([0.2989, 0.587, 0.114], device=x.device)
    return _fma(_fma(r * w[0], w[1], g), w[2], b).floor_().unsqueeze(1)


def identity(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """No change."""
    return x


def brightness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with black: x v."""
    return x.float().mul(_col(v)).clamp_(0, 255).to(torch.uint8)


def color(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Saturation: blend with the grey image; the identity on one channel."""
    return x if x.shape[1] == 1 else _blend(x, _grey(x), v)


def contrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean grey level."""
    grey = _grey(x) if x.shape[1] == 3 else x.float()
    mean = grey.sum((1, 2, 3), keepdim=True, dtype=torch.float64).div_(grey[0].numel()).float()  # exact sum
    return _blend(x, mean, v)


def sharpness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend the interior with PIL's SMOOTH filter (3 x 3, 5 in the middle, / 13, rounded); borders kept.
    The convolution with integer weights is exact (TF32 included), so the rounding is the same everywhere."""
    channels, height, width = x.shape[1:]
    if height <= 2 or width <= 2:
        return x
    kernel = torch.ones(3, 3, device=x.device)
    kernel[1, 1] = 5.0
    out = x.float()
    inner = out[..., 1:-1, 1:-1]
    blurred = F.conv2d(out, kernel.expand(channels, 1, 3, 3), groups=channels).div_(13).round_()
    inner.copy_(_fma(inner, 1 - _col(v), blurred.sub_(inner)))
    return out.clamp_(0, 255).to(torch.uint8)


def autocontrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Stretch each channel's [min, max] to [0, 255] (constant channels kept)."""
    out = x.float()
    low, high = out.amin((2, 3), keepdim=True), out.amax((2, 3), keepdim=True)
    flat = high == low
    scale = (high - low).mul_(1.0 / 255).masked_fill_(flat, 1.0)
    return out.sub_(low.masked_fill_(flat, 0.0)).div_(scale).clamp_(0, 255).to(torch.uint8)


def equalize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """PIL's per-channel histogram equalisation (its LUT rule, as torchvision's ``equalize``)."""
    flat = x.flatten(2).long()
    hist = torch.zeros(*flat.shape[:2], 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(2, flat, torch.ones_like(flat))
    cum = hist.cumsum(2)
    top = hist.gather(2, cum.argmax(2, keepdim=True))  # count of the largest value present
    step = (flat.shape[2] - top).div(255, rounding_mode="floor")
    lut = (cum[..., :-1] + step // 2).div(step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = F.pad(lut, (1, 0)).to(torch.uint8)
    return torch.where(step > 0, lut.gather(2, flat), flat.to(torch.uint8)).view_as(x)


def posterize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Keep the top ``max(1, int(v))`` bits."""
    bits = v.long().clamp(1, 8)
    mask = ((255 << (8 - bits)) & 255).to(torch.uint8)
    return x & _col(mask)


def solarize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Invert the pixels >= v."""
    return torch.where(x >= _col(v), 255 - x, x)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Nearest resampling at ``theta @ (x, y, 1)`` per output pixel centre, in pixels from the image centre
    (torchvision's affine grid on tensors); outside the image: 0. ``theta``: float64 (m, 2, 3). The grid is
    made elementwise (no matmul, which may run in TF32 on a GPU)."""
    height, width = x.shape[2:]
    cols = torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, width, device=x.device)
    rows = torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, height, device=x.device).view(-1, 1)
    t = (theta.float() / torch.tensor([0.5 * width, 0.5 * height], device=x.device).view(1, 2, 1))[..., None, None]
    grid = (t[:, :, 0] * cols + t[:, :, 1] * rows + t[:, :, 2]).permute(0, 2, 3, 1)  # (m, H, W, 2): x, y
    out = F.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def _theta(m: int, device: torch.device, **entries: torch.Tensor) -> torch.Tensor:
    """(m, 2, 3) float64 maps source = (a x + b y + c, d x + e y + f) in ``_warp``'s coordinates: the identity
    with the named entries replaced."""
    theta = torch.eye(2, 3, dtype=torch.float64, device=device).repeat(m, 1, 1).view(m, 6)
    for name, value in entries.items():
        theta[:, "abcdef".index(name)] = value
    return theta.view(m, 2, 3)


def rotate(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Counter-clockwise by v degrees about the centre."""
    angle = v.double() * (math.pi / 180)
    cos, sin = angle.cos(), angle.sin()
    return _warp(x, _theta(len(x), x.device, a=cos, b=-sin, d=sin, e=cos))


def shear_x(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Source x = x + v y, from the top-left corner (PIL's coefficients (1, v, 0, 0, 1, 0))."""
    return _warp(x, _theta(len(x), x.device, b=v.double(), c=v.double() * x.shape[2] / 2))


def shear_y(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Source y = y + v x, from the top-left corner (PIL's coefficients (1, 0, 0, v, 1, 0))."""
    return _warp(x, _theta(len(x), x.device, d=v.double(), f=v.double() * x.shape[3] / 2))


def translate_x(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Source x = x + v width: the content moves left by v width."""
    return _warp(x, _theta(len(x), x.device, c=v.double() * x.shape[3]))


def translate_y(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Source y = y + v height: the content moves up by v height."""
    return _warp(x, _theta(len(x), x.device, f=v.double() * x.shape[2]))


class Op(NamedTuple):
    """A RandAugment op: ``fn(uint8 (m, C, H, W), magnitudes (m,)) -> uint8``, magnitudes in [low, high]."""
    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    low: float
    high: float


# USB's augment_list (fixmatch_augment_pool), in its order
OPS = (Op("AutoContrast", autocontrast, 0, 1), Op("Brightness", brightness, 0.05, 0.95),
       Op("Color", color, 0.05, 0.95), Op("Contrast", contrast, 0.05, 0.95), Op("Equalize", equalize, 0, 1),
       Op("Identity", identity, 0, 1), Op("Posterize", posterize, 4, 8), Op("Rotate", rotate, -30, 30),
       Op("Sharpness", sharpness, 0.05, 0.95), Op("ShearX", shear_x, -0.3, 0.3), Op("ShearY", shear_y, -0.3, 0.3),
       Op("Solarize", solarize, 0, 256), Op("TranslateX", translate_x, -0.3, 0.3),
       Op("TranslateY", translate_y, -0.3, 0.3))


def sample_ops(n: int, num_ops: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Op indices into ``OPS`` (int64, CPU) and their magnitudes (float32, CPU), both (n, num_ops)."""
    ops = torch.randint(len(OPS), (n, num_ops), generator=generator)
    low = torch.tensor([op.low for op in OPS])[ops]
    high = torch.tensor([op.high for op in OPS])[ops]
    return ops, low + (high - low) * uniform((n, num_ops), generator, torch.device("cpu"))


def cutout(x: torch.Tensor, size: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """USB's Cutout of uint8 (m, C, H, W): ``size`` (m,) is its v, a fraction of the width (see above)."""
    m, channels, height, width = x.shape
    side = size * width
    centre = uniform((2, m), generator, x.device)
    corner_x = (width + (1 - width) * centre[0] - side / 2).clamp(min=0).floor()
    corner_y = (height + (1 - height) * centre[1] - side / 2).clamp(min=0).floor()
    cols, rows = torch.arange(width, device=x.device), torch.arange(height, device=x.device)
    inside_x = (cols >= corner_x[:, None]) & (cols <= (corner_x + side).floor()[:, None])
    inside_y = (rows >= corner_y[:, None]) & (rows <= (corner_y + side).floor()[:, None])
    inside = (inside_y[:, :, None] & inside_x[:, None, :] & (side > 0)[:, None, None]).unsqueeze(1)
    fill = torch.tensor(CUTOUT_FILL if channels == 3 else (CUTOUT_FILL_GREY,), dtype=torch.uint8, device=x.device)
    return torch.where(inside, fill.view(1, -1, 1, 1), x)


class StrongAugment:
    """FixMatch's strong view as USB's ``RandAugment(num_ops)``: ``num_ops`` random ops with random
    magnitudes, then Cutout of up to ``cutout`` x the width, with parameters per image (module docstring)."""

    def __init__(self, num_ops: int = 2, cutout: float = 0.5) -> None:
        self.num_ops, self.cutout = num_ops, cutout

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (N, H, W, C) -> uint8 (N, H, W, C) (C = 1 or 3), same device as the input."""
        n, device = len(images), images.device
        ops, magnitudes = sample_ops(n, self.num_ops, generator)
        magnitudes = magnitudes.to(device)
        x = images.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)  # never the input's memory
        for slot in range(self.num_ops):
            for index, op in enumerate(OPS):
                chosen = (ops[:, slot] == index).nonzero().squeeze(1)
                if op.fn is not identity and len(chosen):
                    chosen = chosen.to(device)
                    x[chosen] = op.fn(x[chosen], magnitudes[chosen, slot])
        x = cutout(x, self.cutout * uniform(n, generator, device), generator)
        return x.permute(0, 2, 3, 1).contiguous()
