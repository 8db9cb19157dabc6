"""wandb tracking and what the command line accepts from a wandb agent."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CONFIGS
from imbsemi.cli.common import parse_config
from imbsemi.config import FinetuneConfig, PipelineConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import config_hash, load_config
from imbsemi.errors import ConfigError
from imbsemi.stages import run_finetune
from imbsemi.tracking import Tracker
from wandb_records import read_offline_run


def test_agent_style_overrides_none_lists_booleans_and_merged_sections() -> None:
    config = load_config(PipelineConfig, CONFIGS / "quickstart.yaml", [
        "--seed=1", "--name=None", "--data.pool={'rho_u': 2, 'relevance': 0.8}", "--finetune.test_curve=False",
        "--finetune.shot_thresholds=[50, 10]", "--logger.wandb={'project': 'p', 'tags': ['a', 'b']}",
        "--ssp.method.kwargs={'crop_scale': 0.5}"])
    pool = config.data.pool
    assert (config.seed, config.name, pool.rho_u, pool.relevance) == (1, None, 2.0, 0.8)
    assert pool.size_factor == 3 and pool.irrelevant.name == "photos"  # the file's other pool keys stay
    assert config.finetune.test_curve is False and config.finetune.shot_thresholds == [50, 10]
    assert config.ssp.method.kwargs == {"all_rotations": True, "crop_scale": 0.5}  # merged into the file's kwargs
    assert config.logger.wandb.project == "p" and config.logger.wandb.tags == ["a", "b"]
    assert config.logger.wandb.mode == "offline"


@pytest.mark.parametrize("cls, relative, override, reason", [
    (FinetuneConfig, "finetune/ce_digits.yaml", "--data.pool.relevance=0.5", "without pseudo_labels"),
    (FinetuneConfig, "finetune/ce_digits.yaml", "data={'pool': {'rho_u': 2}}", "without pseudo_labels"),
    (FinetuneConfig, "finetune/ce_digits.yaml", "self_training.threshold=0.9", "without pseudo_labels"),
    (FinetuneConfig, "finetune/ce_digits.yaml", "tau=0.5", "only mode: tau_norm reads tau"),
    (SSPConfig, "ssp/rotation_digits.yaml", "data.pool.rho_u=2", "reads the labeled images only"),
    (PseudolabelConfig, "pseudolabel/digits.yaml", "model.arch=resnet20", "the checkpoint decides the network"),
])
def test_an_override_without_effect_is_an_error(cls: type, relative: str, override: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(cls, CONFIGS / relative, [override])
    assert "has no effect on this command" in str(info.value) and reason in str(info.value)


def test_inert_keys_do_not_change_the_hash_and_effective_ones_do() -> None:
    def finetune(*overrides: str) -> str:
        return config_hash(load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", list(overrides)))
    assert finetune() == finetune("logger.wandb={mode: offline}")  # tracking decides nothing
    with_labels = ("pseudo_labels=x.npz",)
    assert finetune(*with_labels) != finetune(*with_labels, "data.pool.relevance=0.5")
    assert load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                       [*with_labels, "data.pool.relevance=0.5"]).data.pool.relevance == 0.5


def test_wandb_run_is_named_by_the_agent_flags() -> None:
    config, _ = parse_config(FinetuneConfig, "finetune", "", [
        "--config", str(CONFIGS / "finetune/ce_digits.yaml"), "epochs=3", "logger.wandb={}", "--optim.lr=0.2",
        "--seed=4"])
    assert config.logger.wandb.name == "lr=0.2 seed=4" and config.epochs == 3


def test_finetune_alone_is_one_wandb_run_under_base(fast_config, tmp_path: Path) -> None:
    config = fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "logger.wandb={project: t, tags: [x]}")
    result = run_finetune(config)
    run = read_offline_run(result.folder)
    assert run["name"] == run["group"] == result.folder.name
    assert run["config"]["epochs"] == 1 and run["config"]["optim"]["batch_size"] == 16
    assert run["summary"]["base/balanced_acc"] == result.metrics["test"]["balanced_acc"]
    assert run["summary"]["base/per_class_acc"] == result.metrics["test"]["per_class_acc"]
    assert {"base/train/loss", "base/val/balanced_acc", "base/figures/tsne/path"} <= run["history"]
    assert (result.folder / "logs" / "metrics.csv").is_file()  # CSV logs as always


def test_without_a_logger_section_nothing_goes_to_wandb(fast_config) -> None:
    result = run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml"))
    assert not (result.folder / "wandb").exists() and (result.folder / "logs" / "metrics.csv").is_file()


def test_a_run_started_again_in_its_folder_continues_its_wandb_run(tmp_path: Path) -> None:
    config = load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", ["logger.wandb={project: t}"])
    ids = []
    for folder in (tmp_path / "a", tmp_path / "a", tmp_path / "b"):
        tracker = Tracker.start(config, folder)
        ids.append(tracker.run.id)
        tracker.finish()
    assert ids[0] == ids[1] != ids[2] and (tmp_path / "a" / "wandb" / "run_id").read_text() == ids[0]
