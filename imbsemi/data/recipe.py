"""AugmentRecipe: the training-time augmentation of one image, declared once for every input path. The
batched device implementation (``data/augment.py``) reads its fields, ``torchvision_transform`` turns it
into the per-image transform of the classic and split-file paths, and ``training_recipe`` is the one
place that says which recipe the ``data.augment`` keys ask for."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
from torchvision.transforms import v2

# MoCo v2's views at ImageNet scale blur half of them (spec §7.3, lightly's MoCoV2Transform); the
# 32-px recipes of the in-memory sources leave blur out
VIEW_BLUR = 0.5


@dataclass(frozen=True)
class AugmentRecipe:
    """A random augmentation of one image; its steps, in this order, are left out at their zero values:

    1. a random crop at the input's size after padding by ``crop_padding`` pixels per side (zeros, or
       mirrored with ``padding_mode`` reflect);
    2. a random resized crop (unless ``min_scale`` is None): area share ~ U(min_scale, 1), aspect
       ratio log-uniform in [3/4, 4/3], resized to ``size`` (None: the input's side);
    3. a horizontal flip with probability 0.5 (``flip``);
    4. with probability ``cj_prob``, colour jitter: brightness, contrast and saturation factors
       ~ U(1 - s, 1 + s) for s = ``cj_bright``, ``cj_contrast``, ``cj_sat``, and a hue shift
       ~ U(-cj_hue, cj_hue) turns;
    5. grayscale with probability ``random_gray_scale``;
    6. Gaussian blur with probability ``blur`` (lightly's: sigma ~ U(0.1, 2) pixels).

    ``count``: None serves one augmented image, n a tuple of n independently augmented views (SSL).
    The jitter and view fields are named as in lightly's SimCLR / MoCo v2 view transforms. The
    normalisation (mean, std) is the data's, given beside the recipe.
    """
    crop_padding: int = 0
    padding_mode: str = "constant"
    min_scale: float | None = None
    size: int | None = None
    flip: bool = False
    cj_prob: float = 0.0
    cj_bright: float = 0.0
    cj_contrast: float = 0.0
    cj_sat: float = 0.0
    cj_hue: float = 0.0
    random_gray_scale: float = 0.0
    blur: float = 0.0
    count: int | None = None

    def __post_init__(self) -> None:
        if self.padding_mode not in ("constant", "reflect"):
            raise ValueError(f"AugmentRecipe padding_mode = {self.padding_mode!r}: expected constant or reflect")
        if self.size is not None and self.min_scale is None:
            raise ValueError(f"AugmentRecipe size = {self.size} needs a random resized crop (min_scale)")

    @property
    def jitters(self) -> bool:
        """Whether step 4 changes anything."""
        return self.cj_prob > 0 and any((self.cj_bright, self.cj_contrast, self.cj_sat, self.cj_hue))


# MoCoV2Transform's ranges; Gaussian blur is left out, as in lightly's 32-pixel CIFAR recipe
MOCO_V2_VIEWS = AugmentRecipe(min_scale=0.2, flip=True, cj_prob=0.8, cj_bright=0.4, cj_contrast=0.4, cj_sat=0.4,
                              cj_hue=0.1, random_gray_scale=0.2, count=2)
SIMCLR_VIEWS = replace(MOCO_V2_VIEWS, min_scale=0.08, cj_bright=0.8, cj_contrast=0.8, cj_sat=0.8, cj_hue=0.2)


def training_recipe(*, flip: bool, crop_padding: int = 0, crop_size: int | None = None, min_scale: float = 0.08,
                    color_jitter: float = 0.0, views: AugmentRecipe | None = None) -> AugmentRecipe:
    """The training augmentation that the ``data.augment`` keys (AugmentConfig's fields) ask for.

    Args:
        flip: horizontal flip with probability 0.5.
        crop_padding: in-memory sources: random crop after zero padding by this many pixels per side.
        crop_size: split-file sources: side of the random resized crop (None: an in-memory source,
            whose images keep their size).
        min_scale: split-file sources: smallest area share of the random resized crop.
        color_jitter: split-file sources: brightness, contrast and saturation jitter strength, applied
            to every image.
        views: an SSL method's views, which replace the keys above; for split-file sources they are
            resized to ``crop_size`` and blurred with probability VIEW_BLUR.
    """
    if crop_size is None:
        return AugmentRecipe(crop_padding=crop_padding, flip=flip) if views is None else views
    if views is not None:
        return replace(views, size=crop_size, blur=VIEW_BLUR)
    return AugmentRecipe(min_scale=min_scale, size=crop_size, flip=flip, cj_prob=1.0, cj_bright=color_jitter,
                         cj_contrast=color_jitter, cj_sat=color_jitter)


def torchvision_transform(recipe: AugmentRecipe, mean: Sequence[float], std: Sequence[float],
                          image_size: int | None = None) -> Callable:
    """The recipe as torchvision (v2) transforms of one image, a PIL image or a uint8 (C, H, W) tensor,
    with the random draws of torchvision's RandomCrop, RandomResizedCrop, RandomHorizontalFlip,
    ColorJitter and RandomGrayscale: image -> normalised float (C, side, side), or a list of
    ``recipe.count`` such views.

    Args:
        image_size: side of the input images; needed by the padded crop and by a resized crop
            without a ``size`` of its own.
    """
    steps: list[Callable] = []
    if recipe.crop_padding:
        steps.append(v2.RandomCrop(image_size, padding=recipe.crop_padding, padding_mode=recipe.padding_mode))
    if recipe.min_scale is not None:
        steps.append(v2.RandomResizedCrop(recipe.size or image_size, scale=(recipe.min_scale, 1.0), antialias=True))
    if recipe.flip:
        steps.append(v2.RandomHorizontalFlip())
    if recipe.jitters:
        jitter = v2.ColorJitter(recipe.cj_bright, recipe.cj_contrast, recipe.cj_sat, recipe.cj_hue)
        steps.append(jitter if recipe.cj_prob >= 1 else v2.RandomApply([jitter], p=recipe.cj_prob))
    if recipe.random_gray_scale:
        steps.append(v2.RandomGrayscale(recipe.random_gray_scale))
    if recipe.blur:
        from lightly.transforms import GaussianBlur  # imported when used, as below

        steps += [v2.ToPILImage(), GaussianBlur(prob=recipe.blur, sigmas=(0.1, 2))]  # a PIL filter
    image = v2.Compose([*steps, v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
                        v2.Normalize(list(mean), list(std))])
    if recipe.count is None:
        return image
    from lightly.transforms.multi_view_transform import MultiViewTransform

    return MultiViewTransform([image] * recipe.count)
