"""data_prep scripts and `imbsemi data summary` on the embedded data and miniature real-format files."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, ROOT
from formats import write_cifar10, write_jpeg_tree, write_tinyimages
from imbsemi.cli.main import main
from imbsemi.data.cifar_jpeg import convert_jpeg_cifar10


def script(name: str):
    return runpy.run_path(str(ROOT / "data_prep" / f"{name}.py"))["main"]


def test_data_summary_prints_counts_and_relevance(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "summary", "--config", str(CONFIGS / "finetune/ce_digits.yaml"),
                 "data.pool.relevance=0.6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "digits: rho=10 n_max=50 rho_u=1 relevance=0.6 seed=0"
    assert lines[2].split() == ["0", "50", "10", "50", "35"]
    assert lines[-2].split() == ["total", "500", "100", "199", "350"]  # pool: 350 digits + 233 photos
    assert lines[-1] == "pool: 583 images, 233 irrelevant; realised relevance 0.600"


def test_build_pool_writes_a_named_pool(tmp_path: Path) -> None:
    out = tmp_path / "pools" / "digits_r06.npz"
    assert script("build_pool")(["--config", str(CONFIGS / "finetune/ce_digits.yaml"), "--out", str(out),
                                 "data.pool.relevance=0.6"]) == 0
    with np.load(out) as pool:
        assert pool["x"].shape == (583, 8, 8, 1) and (pool["y"] == -1).sum() == 233
        assert pool["sources"].tolist() == ["digits:train", "photos"] and len(pool["index"]) == 583
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["name"] == "digits_r06" and manifest["pool"]["class_counts"] == [35] * 10


def test_convert_tinyimages(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_tinyimages(tmp_path, per_class=3)
    assert script("convert_tinyimages")(["--root", str(tmp_path)]) == 0
    assert "tinyimages: 30 images (32, 32, 3), per class [3, 3, 3" in capsys.readouterr().out


def test_verify_reports_each_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_cifar10(tmp_path, train_per_class=1, test_per_class=1)
    assert script("download")(["cifar10", "--root", str(tmp_path), "--verify-only"]) == 2
    captured = capsys.readouterr()
    assert "BAD MD5" in captured.out and "data_batch_1 (md5 c99cafc152244af753f735de768cd75f)" in captured.out
    assert "7 file(s) missing or corrupted" in captured.err


def test_verify_checks_a_converted_folder_against_its_conversion(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    write_jpeg_tree(tmp_path / "tree", train=2, test=1)
    convert_jpeg_cifar10(tmp_path / "tree", tmp_path / "data")
    download = script("download")
    assert download(["cifar10", "--root", str(tmp_path / "data")]) == 0  # converted files: nothing is downloaded
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and all(line.split()[1] == "ok" and "imbsemi_source.json" in line for line in lines)
    batch = tmp_path / "data" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:-1])
    assert download(["cifar10", "--root", str(tmp_path / "data"), "--verify-only"]) == 2
    assert f"cifar10   BAD SHA256 {batch} (sha256 " in capsys.readouterr().out
