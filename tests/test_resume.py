"""A run killed with SIGKILL and started again resumes from its last checkpoint and ends bit-identical
to an uninterrupted run: same metrics.json values and the same weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import CONFIGS, FAST, ROOT
from imbsemi.checkpoints import read_checkpoint
from imbsemi.config import FinetuneConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.data.sources import load
from imbsemi.errors import ConfigError
from imbsemi.stages import run_finetune, run_pseudolabel, run_ssp
from imbsemi.stages import STAGES, run_stage

RUN = ("import sys; from imbsemi.config import {cls}; from imbsemi.config_files import load_config; "
       "from imbsemi.stages import {stage}; {stage}(load_config({cls}, sys.argv[1], sys.argv[2:]))")


def kill_during_training(cls: str, stage: str, config: Path, overrides: list[str], folder: Path,
                         epochs_done: int, epochs: int) -> None:
    """Run the stage in a child process and SIGKILL it as soon as last.ckpt has been written
    ``epochs_done`` times (each save replaces the file); check that training was cut short."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # packages found there too
    child = subprocess.Popen([sys.executable, "-c", RUN.format(cls=cls, stage=stage), str(config), *overrides],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, stderr=subprocess.DEVNULL)
    last, versions = folder / "checkpoints" / "last.ckpt", set()
    deadline = time.time() + 300
    while time.time() < deadline and child.poll() is None and len(versions) < epochs_done:
        try:
            status = last.stat()
            versions.add((status.st_ino, status.st_mtime_ns))
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    saved_epoch = torch.load(last, weights_only=False, map_location="cpu")["epoch"]
    assert epochs_done - 1 <= saved_epoch < epochs - 1 and not (folder / "metrics.json").exists()


FINETUNE = ["epochs=6", "optim.batch_size=16", "optim.warmup_epochs=1", "trainer.enable_progress_bar=false"]


def pseudo_labels(tmp_path: Path) -> Path:
    """Pseudo-labels of the digits pool from a CE model of a few steps."""
    common = [*FAST, f"out_dir={tmp_path}"]
    model = run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml", [*common, "name=labeler"]))
    labels = run_pseudolabel(load_config(PseudolabelConfig, CONFIGS / "pseudolabel/digits.yaml",
                                         [f"out_dir={tmp_path}", "name=labels", f"checkpoint={model.paths['model']}"]))
    return labels.paths["pseudo_labels"]


@pytest.mark.parametrize("relative, extra", [
    ("finetune/ce_digits.yaml", []),
    pytest.param("finetune/ldam_drw_digits.yaml", ["rule.drw_epoch=3"], marks=pytest.mark.slow),
    pytest.param("finetune/ce_digits.yaml", ["pseudo_labels={labels}", "self_training.unlabeled_share=0.5",
                                             "self_training.omega=0.5"], marks=pytest.mark.slow),
    pytest.param("finetune/ce_digits.yaml", ["data.loader=torch", "data.workers=1"], marks=pytest.mark.slow),
    pytest.param("finetune/mwn_digits.yaml", [], marks=pytest.mark.slow),
    pytest.param("finetune/bbn_digits.yaml", [], marks=pytest.mark.slow)],
    ids=["ce", "ldam-drw", "self-training", "torch-loader", "meta-weight-net", "bbn"])
def test_finetune_killed_in_epoch_3_of_6_resumes_bit_exactly(tmp_path: Path, relative: str, extra: list[str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    if any("{labels}" in item for item in extra):
        labels = pseudo_labels(tmp_path / "labeling")
        extra = [item.format(labels=labels) for item in extra]
    common = [*FINETUNE, *extra, f"out_dir={tmp_path}"]
    reference = run_finetune(load_config(FinetuneConfig, CONFIGS / relative, [*common, "name=reference"]))
    killed = tmp_path / "finetune" / "killed"
    kill_during_training("FinetuneConfig", "run_finetune", CONFIGS / relative, [*common, "name=killed"], killed, 2, 6)
    with caplog.at_level("INFO", logger="imbsemi"):
        resumed = run_finetune(load_config(FinetuneConfig, CONFIGS / relative, [*common, "name=killed"]))
    assert f"finetune: resuming the unfinished run in {killed} from {killed / 'checkpoints/last.ckpt'}" in caplog.text
    for key in ("test", "test_last", "best_val", "selected_epoch", "test_curve_best", "train_size"):
        assert resumed.metrics[key] == reference.metrics[key], key
    # the per-epoch history before the kill is kept, and the epoch cut short is logged once
    assert (killed / "logs/metrics.csv").read_text() == (reference.folder / "logs/metrics.csv").read_text()
    for role in ("model", "model_last"):
        expected = read_checkpoint(reference.paths[role])["state_dict"]
        for name, value in read_checkpoint(resumed.paths[role])["state_dict"].items():
            assert torch.equal(value, expected[name]), (role, name)


@pytest.mark.slow
def test_moco_killed_mid_run_resumes_with_its_queue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    common = ["epochs=5", "optim.batch_size=16", "optim.warmup_epochs=1", "knn.every=2",
              "trainer.enable_progress_bar=false", f"out_dir={tmp_path}"]
    config = CONFIGS / "ssp/moco_v2_digits.yaml"
    reference = run_ssp(load_config(SSPConfig, config, [*common, "name=reference"]))
    killed = tmp_path / "ssp" / "killed"
    kill_during_training("SSPConfig", "run_ssp", config, [*common, "name=killed"], killed, 2, 5)
    with caplog.at_level("INFO", logger="imbsemi"):
        resumed = run_ssp(load_config(SSPConfig, config, [*common, "name=killed"]))
    assert f"ssp: resuming the unfinished run in {killed}" in caplog.text
    assert resumed.metrics["score"] == reference.metrics["score"]
    expected = read_checkpoint(reference.paths["backbone"])["state_dict"]
    for name, value in read_checkpoint(resumed.paths["backbone"])["state_dict"].items():
        assert torch.equal(value, expected[name]), name


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143),
                                            pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_with_a_resume_hint_and_the_run_resumes(tmp_path: Path, signum: int, status: int,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    overrides = ["epochs=10", "optim.batch_size=16", "trainer.enable_progress_bar=false", f"out_dir={tmp_path}",
                 "name=stopped"]
    config = CONFIGS / "finetune/ce_digits.yaml"
    command = "from imbsemi.cli.finetune import main; raise SystemExit(main())"
    child = subprocess.Popen([sys.executable, "-c", command, "--config", str(config), *overrides], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "finetune" / "stopped"
    while not (folder / "checkpoints" / "last.ckpt").is_file() and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == status and "Traceback" not in stderr
    assert "run the same command again to resume" in stderr and not (folder / "metrics.json").exists()
    with caplog.at_level("INFO", logger="imbsemi"):
        resumed = run_finetune(load_config(FinetuneConfig, config, overrides))
    assert "finetune: resuming the unfinished run" in caplog.text and resumed.metrics["selected_epoch"] == 9


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path: Path) -> None:
    overrides = ["epochs=30", "trainer.enable_progress_bar=false", f"out_dir={tmp_path}", "name=busy"]
    config = CONFIGS / "finetune/ce_digits.yaml"
    child = subprocess.Popen([sys.executable, "-c", RUN.format(cls="FinetuneConfig", stage="run_finetune"),
                              str(config), *overrides], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stderr=subprocess.DEVNULL)
    try:
        while not (tmp_path / "finetune" / "busy" / "run.json").is_file() and child.poll() is None:
            time.sleep(0.01)
        with pytest.raises(ConfigError, match=r"run folder .*busy is in use by another process"):
            run_finetune(load_config(FinetuneConfig, config, overrides))
    finally:
        child.kill()
        child.wait()


def test_finished_runs_are_reused_and_other_configs_refused(fast_config, tmp_path: Path) -> None:
    first = run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=run"))
    again = run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=run"))
    assert again.reused and again.metrics == first.metrics
    with pytest.raises(ConfigError, match=r"run folder .*run holds a run of another config .*overwrite=true"):
        run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=run", "optim.lr=0.2"))
    replaced = run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=run", "optim.lr=0.2",
                                        "overwrite=true"))
    assert not replaced.reused and replaced.folder == first.folder
    # a run stopped before its first checkpoint leaves nothing to lose: the corrected config takes the folder
    with pytest.raises(ConfigError, match="trainer: You have passed invalid value -1 for limit_train_batches"):
        run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=typo",
                                 "trainer.limit_train_batches=-1"))
    assert run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=typo")).metrics["test"]


def test_a_finished_run_is_not_reused_once_its_data_files_changed(fast_config, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "test"):
        digits = load("digits", split, "")
        np.savez(data / f"{split}.npz", x=digits.images, y=digits.targets)
    config = fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=run", "data.source=npz",
                         f"data.root={data}")
    assert not run_stage(STAGES["finetune"], config, recompute=True).reused
    assert run_stage(STAGES["finetune"], config, recompute=True).reused
    with np.load(data / "test.npz") as test:  # the same labels, other pixels
        np.savez(data / "test.npz", x=255 - test["x"], y=test["y"])
    manifest = config.out_dir + "/finetune/run/data_manifest.json"
    with pytest.raises(ConfigError, match=f"run folder .*run holds a finished run of other data \\(the splits differ "
                                          f"from {manifest}\\)"):
        run_finetune(config)
    with caplog.at_level("INFO", logger="imbsemi"):
        assert not run_stage(STAGES["finetune"], config, recompute=True).reused  # the pipeline recomputes it
    assert f"a finished run of other data (the splits differ from {manifest}): computing it again" in caplog.text
    assert run_stage(STAGES["finetune"], config, recompute=True).reused
