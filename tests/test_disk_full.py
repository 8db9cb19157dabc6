"""A full disk (here: a file-size limit, which fails a write the same way) stops a run with a clear
error and leaves the files written before intact; too little free space is refused before training."""
from __future__ import annotations

import collections
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import CONFIGS, FAST, ROOT
from imbsemi.config import FinetuneConfig
from imbsemi.config_files import load_config
from imbsemi.errors import DiskFullError
from imbsemi.stages import run_finetune

FILE_LIMIT = 200_000  # bytes: room for logs and records, not for a ResNet-32 checkpoint (~3.8 MB)


def limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def run_child(code: str, *argv: str, limited: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, preexec_fn=limit_file_size if limited else None,
                          timeout=300)


def test_a_save_that_does_not_fit_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    code = ("import sys, torch; from imbsemi.io import save_torch; from imbsemi.errors import DiskFullError\n"
            "save_torch({'w': torch.arange(10)}, sys.argv[1])\n"
            f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_LIMIT}, resource.RLIM_INFINITY))\n"
            "try:\n    save_torch({'w': torch.zeros(100_000)}, sys.argv[1])\n"
            "except DiskFullError as err:\n    print(err)\n")
    out = run_child(code, str(path))
    assert f"no room to write {path} (File too large); the previous model.pt is intact" in out.stdout, out.stderr
    assert torch.equal(torch.load(path)["w"], torch.arange(10))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left


def test_finetune_on_a_full_disk_stops_with_a_clear_error_and_runs_once_there_is_room(tmp_path: Path) -> None:
    overrides = [*FAST, f"out_dir={tmp_path}", "name=full"]
    config = CONFIGS / "finetune/ce_digits.yaml"
    out = run_child("from imbsemi.cli.finetune import main; raise SystemExit(main())", "--config", str(config),
                    *overrides, limited=True)
    folder = tmp_path / "finetune" / "full"
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"error: no room to write {folder / 'checkpoints'}" in out.stderr and "File too large" in out.stderr
    assert not (folder / "metrics.json").exists() and not list(tmp_path.rglob("*.tmp"))
    result = run_finetune(load_config(FinetuneConfig, config, overrides))
    assert result.folder == folder and (folder / "checkpoints" / "last.ckpt").is_file()


def test_too_little_free_space_is_refused_before_the_first_step(fast_config, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr("imbsemi.io.shutil.disk_usage", lambda folder: usage(2 ** 30, 2 ** 30 - 2 ** 20, 2 ** 20))
    with pytest.raises(DiskFullError, match=r"checkpoints has 1\.0 MiB free; the run's checkpoints .* needs \d+\.\d"):
        run_finetune(fast_config(FinetuneConfig, "finetune/ce_digits.yaml", "name=cramped"))
    assert not list((tmp_path / "finetune" / "cramped").rglob("*.ckpt"))
