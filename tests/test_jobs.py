"""Stage jobs with dependencies run in spawned processes: order, reuse, failures and the deadline."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import torch

from imbsemi.config import FinetuneConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.errors import ConfigError
from imbsemi.stages.jobs import StageJob, run_jobs

from conftest import CONFIGS, FAST


def finetune(tmp_path: Path, name: str, *overrides: str) -> FinetuneConfig:
    return load_config(FinetuneConfig, CONFIGS / "finetune/ce_digits.yaml",
                       [*FAST, f"out_dir={tmp_path}", f"name={name}", *overrides])


@pytest.mark.slow  # three spawned processes, ~25 s
def test_a_job_starts_after_its_inputs_and_finished_jobs_are_reused(tmp_path: Path) -> None:
    ssp = StageJob("ssp", "ssp", load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml",
                                             [*FAST, f"out_dir={tmp_path}", "name=ssp"]))
    backbone = tmp_path / "ssp" / "ssp" / "backbone.pt"
    jobs = [ssp, StageJob("ce_ssp", "finetune", finetune(tmp_path, "ce_ssp", f"init={backbone}"), ("ssp",)),
            StageJob("ce", "finetune", finetune(tmp_path, "ce"))]
    first = run_jobs(jobs, workers=2)
    assert sorted(first.results) == ["ce", "ce_ssp", "ssp"] and not first.failed and not first.unfinished
    assert first.results["ce_ssp"].metrics["init"]["report"].startswith("imbsemi layout: backbone 186/186")
    assert not any(result.reused for result in first.results.values())
    again = run_jobs(jobs, workers=2)
    assert all(again.results[key].reused for key in ("ssp", "ce_ssp", "ce"))
    assert again.results["ce"].metrics["test"] == first.results["ce"].metrics["test"]


@pytest.mark.slow  # spawned processes, ~10 s
def test_a_failed_job_stops_its_dependents_and_not_the_others(tmp_path: Path) -> None:
    jobs = [StageJob("broken", "finetune", finetune(tmp_path, "broken", f"init={tmp_path}/none.pt")),
            StageJob("after_broken", "finetune", finetune(tmp_path, "after"), ("broken",)),
            StageJob("ce", "finetune", finetune(tmp_path, "ce"))]
    outcome = run_jobs(jobs, workers=2)
    assert "does not exist" in outcome.failed["broken"]
    assert outcome.failed["after_broken"] == "not run: needs broken"
    assert list(outcome.results) == ["ce"] and not outcome.unfinished


@pytest.mark.slow
def test_the_deadline_stops_running_jobs_and_they_resume_next_time(tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    # 100,000 epochs cannot end within 20 s on any machine; one epoch of 2 steps takes under a second
    endless = StageJob("endless", "finetune", finetune(tmp_path, "endless", "epochs=100000"))
    last = tmp_path / "finetune" / "endless" / "checkpoints" / "last.ckpt"
    start = time.time()
    stopped = run_jobs([endless], deadline=start + 20)
    assert stopped.unfinished == ["endless"] and not stopped.results
    assert time.time() - start < 20 + 35  # SIGTERM, then SIGKILL after 30 s at the latest
    first_stop = torch.load(last, weights_only=False, map_location="cpu")["epoch"]
    again = run_jobs([endless], deadline=time.time() + 20)
    assert again.unfinished == ["endless"] and not again.results
    assert f"finetune: resuming the unfinished run in {last.parents[1]} from {last}" in capfd.readouterr().err
    assert torch.load(last, weights_only=False, map_location="cpu")["epoch"] > first_stop


@pytest.mark.parametrize("jobs, message", [
    ([StageJob("a", "train", None)], "job a: unknown stage 'train'"),
    ([StageJob("b", "ssp", None, ("a",)), StageJob("a", "ssp", None)], "job b runs after a, which must be listed"),
    ([StageJob("a", "ssp", None), StageJob("a", "ssp", None)], "job keys must be unique; got ['a']"),
])
def test_malformed_job_lists_are_refused_before_anything_runs(jobs: list[StageJob], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_jobs(jobs)
