"""Learning-rate schedules against spec §12.3."""
from __future__ import annotations

import pytest

from imbsemi.optim import lr_factor


@pytest.mark.parametrize("epoch, lr", [(0, 0.02), (1, 0.04), (4, 0.1), (5, 0.1), (159, 0.1), (160, 0.001),
                                       (179, 0.001), (180, 1e-5), (199, 1e-5)])
def test_original_step_schedule(epoch: int, lr: float) -> None:
    assert lr_factor(epoch, 200, 5, "step") * 0.1 == pytest.approx(lr, rel=1e-9)


@pytest.mark.parametrize("epoch, lr", [(1, 0.19994), (2, 0.19976), (45, 0.1), (89, 6e-5)])
def test_cosine_schedule(epoch: int, lr: float) -> None:
    assert lr_factor(epoch, 90, 0, "cosine") * 0.2 == pytest.approx(lr, abs=5e-6)


def test_schedules_scale_to_other_lengths() -> None:
    assert [lr_factor(e, 10, 2) for e in (0, 1, 2, 7, 8, 9)] == [0.5, 1.0, 1.0, 1.0, 0.01, 1e-4]
    assert lr_factor(2, 10, 2, "cosine") == 1.0 and lr_factor(9, 10, 2, "cosine") < 0.05
