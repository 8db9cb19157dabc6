"""Class weights, sampling probabilities and the DRW switch against spec §12.3."""
from __future__ import annotations

import numpy as np
import pytest

from imbsemi.errors import ConfigError
from imbsemi.data.sampling import class_sampling_probabilities
from imbsemi.losses.weighting import WeightSchedule, effective_number_weights, inverse_frequency_weights

CIFAR10_RHO100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def test_effective_number_weights_match_spec() -> None:
    expected = [0.0506, 0.0769, 0.1211, 0.1950, 0.3188, 0.5246, 0.8683, 1.4426, 2.4092, 3.9927]
    weights = effective_number_weights(CIFAR10_RHO100, 0.9999)
    assert np.round(weights, 4).tolist() == expected and np.isclose(weights.sum(), 10)


def test_inverse_frequency_weights() -> None:
    assert np.allclose(inverse_frequency_weights([300, 100, 50]), np.array([1, 3, 6]) * 3 / 10)


def test_sampling_probabilities_match_spec_and_exact_balance() -> None:
    expected = [0.1193, 0.1086, 0.1026, 0.0990, 0.0969, 0.0957, 0.0950, 0.0945, 0.0943, 0.0941]
    assert np.round(class_sampling_probabilities(CIFAR10_RHO100, "resample_effective"), 4).tolist() == expected
    assert np.allclose(class_sampling_probabilities(CIFAR10_RHO100, "resample"), 0.1)


def test_reversed_sampler_draws_classes_in_proportion_to_n_max_over_n() -> None:
    """BBN: w_c = n_max / n_c, P_c = w_c / sum w; for counts (100, 20, 5): w = (1, 5, 20) -> (1, 5, 20) / 26."""
    assert np.allclose(class_sampling_probabilities([100, 20, 5], "reversed"), np.array([1, 5, 20]) / 26)


def test_drw_switches_exactly_at_the_configured_epoch() -> None:
    schedule = WeightSchedule("drw", CIFAR10_RHO100, "effective_number", 0.9999, drw_start=160)
    assert schedule.at(0) is None and schedule.at(159) is None
    assert np.allclose(schedule.at(160), effective_number_weights(CIFAR10_RHO100)) and schedule.at(199) is not None
    always = WeightSchedule("reweight", CIFAR10_RHO100, "inverse_frequency", 0.9999, drw_start=160)
    assert np.allclose(always.at(0), inverse_frequency_weights(CIFAR10_RHO100))
    assert WeightSchedule("resample", CIFAR10_RHO100, "effective_number", 0.9999, 160).at(170) is None


@pytest.mark.parametrize("call, message", [
    (lambda: effective_number_weights([5, 1], beta=1.0), "beta = 1.0: must be in (0, 1)"),
    (lambda: effective_number_weights([5, 0], beta=0.9), "class(es) [1] have no training images"),
    (lambda: WeightSchedule("balance", [5, 1], "effective_number", 0.9, 1),
     "unknown rule; registered: none, reweight, resample, resample_effective, reversed, drw"),
])
def test_bad_weighting_inputs(call, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    assert message in str(info.value)
