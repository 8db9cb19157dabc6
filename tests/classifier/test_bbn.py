"""BBN: the cumulative-learning adaptor, the bilateral network's mixing and inference, the two samplers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from imbsemi.classifier.bbn import cumulative_alpha
from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import Standardize
from imbsemi.data.loader import DeviceLoader, ZippedLoader
from imbsemi.data.sampling import sample_weights
from imbsemi.models import MODELS


def test_alpha_decays_parabolically_from_one() -> None:
    assert [cumulative_alpha(e, 10) for e in (0, 5, 9)] == [1.0, 0.75, pytest.approx(0.19)]


def test_bilateral_logits_mix_the_branch_features_and_inference_is_alpha_one_half() -> None:
    torch.manual_seed(0)
    model = MODELS["resnet32_bbn"](num_classes=3, in_channels=1).eval()
    assert len(model.layer3) == 4 and model.fc.in_features == 128
    x_c, x_r = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    f_c = model._pooled(model.cb_block(model.trunk(x_c)))
    f_r = model._pooled(model.rb_block(model.trunk(x_r)))
    expected = model.fc(torch.cat([2 * 0.7 * f_c, 2 * 0.3 * f_r], dim=1))
    assert torch.allclose(model.bilateral_logits(x_c, x_r, 0.7), expected, atol=1e-6)
    assert torch.allclose(model(x_c), model.bilateral_logits(x_c, x_c, 0.5), atol=1e-6)
    assert not torch.equal(model.cb_block.conv1.weight, model.rb_block.conv1.weight)


def test_zipped_loader_pairs_an_instance_balanced_and_a_reversed_batch_each_step() -> None:
    targets = np.repeat(np.arange(3), [60, 15, 5])
    arrays = ImageArrays(np.zeros((80, 2, 2, 1), np.uint8), targets, ["a", "b", "c"],
                         Provenance.single("test", np.arange(80)))
    transform = Standardize(torch.zeros(1), torch.ones(1))
    main = DeviceLoader(arrays, 16, transform, shuffle=True, seed=0)
    reversed_weights = sample_weights(targets, [60, 15, 5], "reversed", 0.9999)
    second = DeviceLoader(arrays, 16, transform, shuffle=True, seed=1, sample_weights=reversed_weights)
    zipped = ZippedLoader(main, second)
    drawn = {"main": [], "second": []}
    for epoch in range(20):
        zipped.epoch = epoch
        batches = list(zipped)
        assert len(batches) == len(zipped) == 5
        for (_, main_targets), (_, second_targets) in batches:
            drawn["main"].append(main_targets)
            drawn["second"].append(second_targets)
    main_counts = torch.bincount(torch.cat(drawn["main"]), minlength=3)
    assert main_counts.tolist() == [1200, 300, 100]  # every image once per epoch
    second_share = torch.bincount(torch.cat(drawn["second"]), minlength=3) / 1600
    assert torch.allclose(second_share, torch.tensor([1, 4, 12]) / 17, atol=0.03)  # n_max / n: 1, 4, 12


def test_the_config_names_every_classifier_method() -> None:
    import typing

    from imbsemi.classifier import CLASSIFIER_METHODS
    from imbsemi.config import ClassifierMethodConfig

    assert typing.get_args(typing.get_type_hints(ClassifierMethodConfig)["name"]) == tuple(CLASSIFIER_METHODS)
