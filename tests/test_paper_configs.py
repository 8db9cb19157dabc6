"""The paper's recipes as shipped configs (spec §10): each loads with the values of the original code
and runs on miniature CIFAR-10 / CIFAR-100 / SVHN / Tiny-Images files in the real formats."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CONFIGS
from formats import write_cifar10, write_cifar100, write_svhn, write_tinyimages
from imbsemi.classifier.pseudo_labels import PseudoLabels
from imbsemi.config import FinetuneConfig, PipelineConfig
from imbsemi.config_files import load_config
from imbsemi.data.splits import LTSplits
from imbsemi.stages import run_finetune

ONE_STEP = ["epochs=1", "trainer.limit_train_batches=1", "trainer.enable_progress_bar=false",
            "optim.warmup_epochs=0", "data.verify=false", "data.n_max=20", "data.rho=10"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root, train_per_class=20, test_per_class=2)
    write_cifar100(root, train_per_class=20, test_per_class=1)
    write_tinyimages(root, per_class=30)
    for split, per_class in (("train", 30), ("test", 2), ("extra", 40)):
        write_svhn(root, split, per_class)
    return root


def load(name: str, root: Path, out: Path, *overrides: str) -> FinetuneConfig:
    """The shipped recipe at one step on the miniature files; a smaller pool when self-training (the pool
    settings are refused without pseudo_labels: they would have no effect)."""
    self_trains = any(o.startswith("pseudo_labels=") for o in overrides)
    pool = ["data.pool.size_factor=1" if "svhn" in name else "data.pool.size_factor=2"] if self_trains else []
    extra = ["data.val_per_class=2", *pool] if "svhn" in name else pool
    return load_config(FinetuneConfig, CONFIGS / f"finetune/{name}.yaml",
                       [*ONE_STEP, *extra, f"data.root={root}", f"out_dir={out}", f"name={name}", *overrides])


def reference_pseudo_labels(config: FinetuneConfig, path: Path) -> Path:
    """A PseudoLabels file for the config's pool holding its reference labels."""
    pool = LTSplits(config.data, config.seed).pool
    PseudoLabels(pool.targets.copy(), pool.targets * 0.0 + 1.0,
                 {"pool_fingerprint": pool.fingerprint(), "pool_size": len(pool)}).save(path)
    return path


@pytest.mark.parametrize("name, loss, rule", [("ce_pseudo_cifar10", "ce", "none"),
                                              ("ldam_drw_pseudo_cifar10", "ldam", "drw"),
                                              ("ce_pseudo_svhn", "ce", "none"),
                                              ("ldam_drw_pseudo_svhn", "ldam", "drw")])
def test_self_training_recipes_use_batch_256_over_the_union(root: Path, tmp_path: Path, name: str, loss: str,
                                                             rule: str) -> None:
    config = load(name, root, tmp_path, "pseudo_labels=made_below.npz")
    assert (config.optim.batch_size, config.loss.name, config.rule.name, config.optim.lr) == (256, loss, rule, 0.1)
    labels = reference_pseudo_labels(config, tmp_path / "labels.npz")
    metrics = run_finetune(load(name, root, tmp_path, f"pseudo_labels={labels}")).metrics
    splits = LTSplits(config.data, config.seed)
    assert metrics["train_size"] == len(splits.labeled) + len(splits.pool)


def test_base_recipes_balanced_ldam_and_crt(root: Path, tmp_path: Path) -> None:
    balanced = run_finetune(load("ce_balanced_cifar10", root, tmp_path)).metrics
    assert balanced["rule"] == "resample_effective" and balanced["class_sampling"][0] > balanced["class_sampling"][9]
    ldam = load("ldam_drw_cifar100", root, tmp_path)
    assert (ldam.loss.name, ldam.rule.name, ldam.rule.drw_fraction) == ("ldam", "drw", 0.8)
    assert len(run_finetune(ldam).metrics["test"]["per_class_acc"]) == 100
    base = run_finetune(load("ce_cifar10", root, tmp_path)).paths["model"]
    crt = run_finetune(load("crt_cifar10", root, tmp_path, f"init={base}")).metrics
    assert crt["mode"] == "crt" and crt["rule"] == "resample"


def test_the_cifar10_pipeline_self_trains_with_its_own_batch() -> None:
    config = load_config(PipelineConfig, CONFIGS / "pipeline_cifar10.yaml")
    assert config.finetune.optim.batch_size == 128 and config.selftrain.optim.batch_size == 256
    assert (config.selftrain.epochs, config.selftrain.loss.name, config.selftrain.optim.lr) == (200, "ce", 0.1)
    plain = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", ["selftrain.loss.name=focal"])
    assert plain.selftrain.loss.name == "focal" and plain.selftrain.epochs == plain.finetune.epochs == 60
    assert load_config(PipelineConfig, CONFIGS / "quickstart.yaml").selftrain is None
