"""Every shipped config loads strictly with its CLI's schema."""
from __future__ import annotations

from pathlib import Path

import pytest

from imbsemi.config import CommonConfig, FinetuneConfig, PipelineConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import load_config

from conftest import CONFIGS

SCHEMAS = {"ssp": SSPConfig, "finetune": FinetuneConfig, "pseudolabel": PseudolabelConfig}


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "sweeps"),
                         ids=lambda p: str(p.relative_to(CONFIGS)))  # sweep files: tests/test_sweep.py
def test_config_loads(path: Path) -> None:
    schema = SCHEMAS.get(path.parent.name, PipelineConfig if path.stem in ("quickstart", "pipeline_cifar10")
                         else CommonConfig)
    config = load_config(schema, path)
    assert config.data.rho >= 1


def test_paper_data_configs() -> None:
    cifar = load_config(FinetuneConfig, CONFIGS / "finetune/ce_cifar10.yaml")
    assert (cifar.data.rho, cifar.data.pool.relevant.name, cifar.optim.batch_size, cifar.epochs) == (100, "tinyimages",
                                                                                                    128, 200)
    svhn = load_config(SSPConfig, CONFIGS / "ssp/rotation_svhn.yaml")
    assert (svhn.data.pool.relevant.name, svhn.data.pool.relevant.split) == ("svhn", "extra")
