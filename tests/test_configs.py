"""Every shipped config loads strictly with its CLI's schema."""
from __future__ import annotations

from pathlib import Path

import pytest

from imbsemi.config import CommonConfig, FinetuneConfig, PipelineConfig, PseudolabelConfig, SemiConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.data.longtail import class_counts
from imbsemi.data.pools import pool_counts
from imbsemi.data.splits import LTSplits

from conftest import CONFIGS

SCHEMAS = {"ssp": SSPConfig, "finetune": FinetuneConfig, "pseudolabel": PseudolabelConfig, "semi": SemiConfig}


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "sweeps"),
                         ids=lambda p: str(p.relative_to(CONFIGS)))  # sweep files: tests/test_sweep.py
def test_config_loads(path: Path) -> None:
    pipelines = ("quickstart", "pipeline_cifar10", "lt_ssl_digits", "remedies_digits")
    schema = SCHEMAS.get(path.parent.name, PipelineConfig if path.stem in pipelines else CommonConfig)
    config = load_config(schema, path)
    assert config.data.rho >= 1


def test_paper_data_configs() -> None:
    cifar = load_config(FinetuneConfig, CONFIGS / "finetune/ce_cifar10.yaml")
    assert (cifar.data.rho, cifar.data.pool.relevant.name, cifar.optim.batch_size, cifar.epochs) == (100, "tinyimages",
                                                                                                    128, 200)
    svhn = load_config(SSPConfig, CONFIGS / "ssp/rotation_svhn.yaml")
    assert (svhn.data.pool.relevant.name, svhn.data.pool.relevant.split) == ("svhn", "extra")


@pytest.mark.parametrize("n1, m1", [(1500, 3000), (500, 4000)])
@pytest.mark.parametrize("gamma", [100, 150])
@pytest.mark.parametrize("shape", ["consistent", "uniform", "reversed"])
def test_named_lt_ssl_settings_have_the_rule_counts(n1: int, m1: int, gamma: int, shape: str) -> None:
    config = load_config(SemiConfig, CONFIGS / f"semi/cifar10_n{n1}_m{m1}_g{gamma}_{shape}.yaml")
    rule = [int(m1 * gamma ** (-c / 9)) for c in range(10)]
    expected = {"consistent": rule, "uniform": [m1] * 10, "reversed": rule[::-1]}[shape]
    assert class_counts(config.data.n_max, 10, config.data.rho, config.data.imb_type) == [
        int(n1 * gamma ** (-c / 9)) for c in range(10)]
    assert pool_counts(config.data.pool, 10, 0)[0] == expected
    assert (config.model.arch, config.steps, config.batch_size, config.mu, config.data.val_per_class) == (
        "wrn28_2", 250_000, 64, 2, 0)


@pytest.mark.parametrize("shape", ["consistent", "uniform", "reversed"])
def test_digits_lt_ssl_pools_build_with_the_rule_counts(shape: str) -> None:
    config = load_config(SemiConfig, CONFIGS / f"semi/digits_{shape}.yaml")
    splits = LTSplits(config.data, config.seed)
    rule = [int(60 * 10 ** (-c / 9)) for c in range(10)]
    assert splits.pool.class_counts() == {"consistent": rule, "uniform": [60] * 10, "reversed": rule[::-1]}[shape]
    assert splits.labeled.class_counts() == [int(50 * 10 ** (-c / 9)) for c in range(10)]
