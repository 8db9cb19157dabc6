"""Config loading: strict keys, types and ranges, overrides, base: inheritance, CLI error output."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from imbsemi.config import FinetuneConfig, PipelineConfig, SourceRef, SSPConfig
from imbsemi.config_files import config_hash, load_config
from imbsemi.dataclass_yaml import parse_overrides
from imbsemi.errors import ConfigError

from conftest import CONFIGS, ROOT


@pytest.mark.parametrize("override, message", [
    ("data.rhoo=5", "unknown key data.rhoo; allowed keys at data: source, root, imb_type, rho,"),
    ("optimizer.lr=0.1", "unknown key optimizer; allowed keys at top level:"),
    ("epochs=ten", "epochs = 'ten' (str): expected int"),
    ("optim.lr=fast", "optim.lr = 'fast' (str): expected float"),
    ("data.augment.flip=3", "data.augment.flip = 3 (int): expected bool"),
    ("data.rho=0.5", "data.rho = 0.5: must be a finite number >= 1"),
    ("data.pool.relevance=1.5", "data.pool.relevance = 1.5: must be in [0, 1]"),
    ("data.pool.relevance=-0.1", "data.pool.relevance = -0.1: must be in [0, 1]"),
    ("data.pool.size_factor=0", "data.pool.size_factor = 0: must be > 0"),
    ("data.pool.rho_u=0.9", "data.pool.rho_u = 0.9: must be a finite number >= 1"),
    ("epochs=0", "epochs = 0: must be > 0"),
    ("optim.batch_size=0", "optim.batch_size = 0: must be >= 1"),
    ("data.imb_type=linear", "data.imb_type = 'linear': expected one of exp, step, uniform"),
    ("trainer.max_epochs=3", "trainer.max_epochs is set by imbsemi; use `epochs`"),
    ("self_training.threshold=1.5", "self_training.threshold = 1.5: must be in [0, 1]"),
    ("self_training.unlabeled_share=1.0", "self_training.unlabeled_share = 1.0: must be in (0, 1) (or null)"),
    ("self_training.omega=-1", "self_training.omega = -1: must be >= 0"),
    ("rule.beta=1.0", "rule.beta = 1.0: must be in (0, 1)"),
    ("shot_thresholds=[10, 20]", "shot_thresholds = [10, 20]: must be [many_above, few_below]"),
    ("shot_thresholds=[10, x]", "shot_thresholds[1] = 'x' (str): expected float"),
    ("rule.name=balanced",
     "rule.name = 'balanced': expected one of none, reweight, resample, resample_effective, reversed, drw"),
    ("trainer.precison=bf16", "unknown key trainer.precison; allowed: pytorch_lightning.Trainer arguments"),
])
def test_bad_values_name_key_value_and_rule(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", [override])
    assert message in str(info.value)
    assert str(info.value).startswith(f"command-line override {override.split('=')[0]}")  # not the file's fault


def test_override_forms_and_base_inheritance() -> None:
    config = load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                         ["data.rho=50", "--optim.lr=0.2", "--init", "x.pt", "model.kwargs={use_norm: true}"])
    assert (config.data.rho, config.optim.lr, config.init) == (50.0, 0.2, "x.pt")
    assert config.model.kwargs == {"use_norm": True}
    assert config.data.source == "digits" and config.data.n_max == 50  # from base: digits_data.yaml
    assert config.data.pool.irrelevant == SourceRef("photos", "train")  # string shorthand


def test_pipeline_and_stage_configs_agree() -> None:
    pipeline = load_config(PipelineConfig, CONFIGS / "quickstart.yaml")
    ssp = load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml")
    assert pipeline.data == ssp.data and pipeline.ssp.method == ssp.method


def test_base_loop_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="base: chain loops"):
        load_config(SSPConfig, tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="nope.yaml does not exist"):
        load_config(SSPConfig, tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys, got list"):
        load_config(SSPConfig, tmp_path / "list.yaml")


def test_override_without_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["data.rho"])


def test_hash_ignores_name_and_folder_but_not_values() -> None:
    base = load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml")
    renamed = load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml", ["name=x", "out_dir=/elsewhere"])
    changed = load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml", ["seed=1"])
    assert config_hash(base) == config_hash(renamed) != config_hash(changed)


def test_cli_reports_user_error_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", "from imbsemi.cli.finetune import main; raise SystemExit(main())",
                             "--config", str(CONFIGS / "finetune/ce_digits.yaml"), "data.rho=0.5",
                             f"out_dir={tmp_path}"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "error:" in result.stderr and "data.rho = 0.5: must be a finite number >= 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing written for a rejected config


def test_resolved_config_is_saved_in_the_run_folder(tmp_path: Path) -> None:
    from imbsemi.stages import STAGES, run_folder
    from imbsemi.stages.run import StageRun

    config = load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml", [f"out_dir={tmp_path}", "data.rho=20"])
    run = StageRun.resolve(STAGES["ssp"], config, run_folder(config, "ssp", "rotation_digits"))
    run.start()
    folder = run.folder
    assert folder == tmp_path / "ssp" / f"rotation_digits-{config_hash(config)[:8]}"
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["data"]["rho"] == 20.0 and saved["method"]["kwargs"]["crop_scale"] == 0.2
    assert load_config(SSPConfig, folder / "config.yaml") == config


def test_loading_a_config_imports_neither_torch_nor_numpy() -> None:
    """So that --help and config errors are instant."""
    import subprocess
    import sys

    code = "import sys, imbsemi.config_files; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
