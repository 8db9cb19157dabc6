"""WRN-28-2 / WRN-28-8: the published parameter counts, feature size and the block wiring."""
from __future__ import annotations

import pytest
import torch

from imbsemi.models import MODELS
from imbsemi.models.wide_resnet import WideResNet


def test_parameter_counts_are_the_published_ones() -> None:
    # FixMatch's WRN-28-2 (CIFAR-10): 1,467,610 parameters; WRN-28-8 (CIFAR-100): 23.4M
    assert sum(p.numel() for p in MODELS["wrn28_2"](10).parameters()) == 1_467_610
    assert sum(p.numel() for p in MODELS["wrn28_8"](100).parameters()) == 23_401_012


@pytest.mark.parametrize("size, channels", [(8, 1), (32, 3)])
def test_wrn_runs_on_small_and_cifar_sized_inputs(size: int, channels: int) -> None:
    model = MODELS["wrn28_2"](7, in_channels=channels).eval()
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)
    assert model.features(torch.randn(2, channels, size, size)).shape == (2, 128)


def test_batchnorm_momentum_is_a_keyword_and_depth_must_be_6n_plus_4() -> None:
    model = MODELS["wrn28_2"](10, bn_momentum=0.1)
    assert {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
    assert {m.momentum for m in MODELS["wrn28_2"](10).modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.001}
    assert len(model.layer1) == len(model.layer3) == 4
    with pytest.raises(ValueError, match="depth = 27: must be 6n \\+ 4"):
        WideResNet(27, 2, 10)


def test_first_group_activates_before_its_shortcut_the_others_do_not() -> None:
    model = MODELS["wrn28_2"](10).eval()
    first, second = model.layer1[0], model.layer2[0]
    x = torch.randn(2, 16, 8, 8)
    activated = torch.nn.functional.leaky_relu(first.bn1(x), 0.1)
    expected = first.shortcut(activated) + first.conv2(torch.nn.functional.leaky_relu(
        first.bn2(first.conv1(activated)), 0.1))
    torch.testing.assert_close(first(x), expected)
    y = torch.randn(2, 32, 8, 8)  # raw input into the shortcut and conv1
    expected = second.shortcut(y) + second.conv2(torch.nn.functional.leaky_relu(second.bn2(second.conv1(y)), 0.1))
    torch.testing.assert_close(second(y), expected)
