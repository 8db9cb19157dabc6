"""ResNet-32: the original key layout, parameter count, and 8x8 / 32x32 inputs."""
from __future__ import annotations

import pytest
import torch

from imbsemi.models import MODELS


def test_resnet32_keys_match_the_original_layout() -> None:
    linear, normed = MODELS["resnet32"](10), MODELS["resnet32"](10, use_norm=True)
    keys = list(linear.state_dict())
    assert len(keys) == 188 and len(normed.state_dict()) == 187
    assert keys[:2] == ["conv1.weight", "bn1.weight"] and keys[-2:] == ["fc.weight", "fc.bias"]
    assert "layer3.4.bn2.num_batches_tracked" in keys
    assert normed.state_dict()["fc.weight"].shape == (64, 10)
    assert sum(p.numel() for p in linear.parameters()) == 464154


@pytest.mark.parametrize("size, channels", [(8, 1), (32, 3)])
def test_resnet32_runs_on_small_and_cifar_sized_inputs(size: int, channels: int) -> None:
    model = MODELS["resnet32"](7, in_channels=channels).eval()
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)
    assert model.features(torch.randn(2, channels, size, size)).shape == (2, 64)


def test_depths_have_6n_plus_2_layers() -> None:
    for name, blocks in (("resnet20", 3), ("resnet44", 7), ("resnet56", 9), ("resnet110", 18)):
        model = MODELS[name](10)
        assert len(model.layer1) == len(model.layer3) == blocks


def test_normed_linear_is_cosine_similarity() -> None:
    model = MODELS["resnet20"](3, use_norm=True)
    x = torch.randn(4, 64)
    expected = (x / x.norm(dim=1, keepdim=True)) @ (model.fc.weight / model.fc.weight.norm(dim=0, keepdim=True))
    assert torch.allclose(model.fc(x), expected, atol=1e-6)


@pytest.mark.parametrize("name, reference_name, width", [("resnet18", "resnet18", 512), ("resnet50", "resnet50", 2048),
                                                         ("resnext50", "resnext50_32x4d", 2048)])
def test_torchvision_resnets_keep_torchvision_keys(name: str, reference_name: str, width: int) -> None:
    import torchvision

    model = MODELS[name](7, in_channels=1).eval()
    reference = getattr(torchvision.models, reference_name)(num_classes=7)
    shapes = {key: value.shape for key, value in reference.state_dict().items()}
    assert list(model.state_dict()) == list(shapes)
    assert all(value.shape == shapes[key] for key, value in model.state_dict().items() if key != "conv1.weight")
    assert model.features(torch.randn(2, 1, 64, 64)).shape == (2, width) and model.feature_dim == width
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 7)
    assert MODELS[name](7, use_norm=True).fc.weight.shape == (width, 7)
