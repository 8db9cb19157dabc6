"""Two DDP processes on CPU (gloo, started by torchrun as on a GPU node), reading JPEG files or litdata
shards: each rank trains on its own shard of every epoch, and only rank 0 writes the run folder (every
file either process opens for writing is recorded through Python's audit hooks)."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CONFIGS, ROOT
from formats import write_split_files
from imbsemi.cli.main import main as imbsemi_main


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["torch", "litdata"])
def test_two_rank_finetune_on_split_files_trains_on_shards_and_only_rank_0_writes(tmp_path: Path, loader: str) -> None:
    write_split_files(tmp_path / "data", {"train": [24, 10, 4], "val": [3, 3, 3], "test": [4, 4, 3]}, size=40)
    (tmp_path / "writes").mkdir()
    runs = tmp_path / "runs"
    data = [f"--config={CONFIGS / 'finetune/ce_uniform_imagenet_lt.yaml'}", f"data.root={tmp_path / 'data'}",
            f"data.loader={loader}"]
    if loader == "litdata":
        assert imbsemi_main(["data", "shards", *data, "--workers", "1"]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "tests" / "ddp_rank.py"), "imbsemi.cli.finetune:main", *data,
               "data.augment.crop_size=32", "data.augment.resize=36", "data.workers=0", "model.arch=resnet18",
               "epochs=1", "optim.batch_size=8", "optim.lr=0.01", "trainer.accelerator=cpu", "trainer.devices=2",
               "trainer.strategy=ddp", "trainer.enable_progress_bar=false", f"out_dir={runs}", "name=ddp"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMBSEMI_WRITES_LOG": str(tmp_path / "writes")}
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("finetune: test acc=") == 1  # the result line comes from rank 0 only
    written = {rank: (tmp_path / "writes" / f"rank{rank}.txt").read_text().split() for rank in (0, 1)}
    assert not [path for path in written[1] if path.startswith(str(runs))]
    folder = runs / "finetune" / "ddp"
    for name in ("metrics.json", "model.pt", "checkpoints/last.ckpt", "logs/metrics.csv", "data_manifest.json"):
        assert str(folder / name) in written[0], name
    # 38 training images over 2 ranks: 19 each, 3 steps of 8 per epoch (one process would take 5); litdata
    # drops each rank's partial batch under DDP (its drop_last), so 2 steps of 8
    with open(folder / "logs" / "metrics.csv") as handle:
        steps = {row["step"] for row in csv.DictReader(handle) if row.get("train/loss")}
    assert steps == ({"0", "1", "2"} if loader == "torch" else {"0", "1"})
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train_size"] == 38
    # the ranks scored a share of the 11 test images each (one padded); gathered, each counts once
    assert [sum(row) for row in metrics["test"]["confusion"]] == [4, 4, 3]
