"""Smoke test of the multi-seed experiment scripts on a few steps (their numbers live in experiments/results)."""
from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from conftest import ROOT

TINY = ["ssp.epochs=1", "finetune.epochs=1", "trainer.limit_train_batches=1", "trainer.enable_progress_bar=false",
        "ssp.optim.warmup_epochs=0", "finetune.optim.warmup_epochs=0", "finetune.test_curve=false"]


@pytest.mark.slow  # two seeds of the six-variant experiment, ~25 s
def test_fidelity_tables_every_variant_with_paired_gains(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = runpy.run_path(str(ROOT / "experiments" / "fidelity.py"))["main"]
    out = tmp_path / "table.md"
    assert main(["--seeds", "0,1", "--out", str(out), f"out_dir={tmp_path}", *TINY]) == 0
    table = out.read_text()
    for variant in ("ce", "ce+ssp", "ce+pseudo", "ssp+pseudo", "ldam_drw", "ldam_drw+pseudo"):
        assert re.search(rf"^\| {re.escape(variant)} \| [\d.]+ ± [\d.]+ \|", table, re.M), variant
    assert "| ldam_drw+pseudo | ldam_drw |" in table and "out_dir" not in table
    assert capsys.readouterr().out.splitlines()[-1].startswith("RESULT ce=")
    folders = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "pipeline").iterdir() if p.name != ".locks")
    assert folders == ["fidelity-seed0", "fidelity-seed1"]


@pytest.mark.slow  # two shapes x two seeds of eight variants, ~60 s
def test_lt_ssl_digits_tables_every_variant_per_shape(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = runpy.run_path(str(ROOT / "experiments" / "lt_ssl_digits.py"))["main"]
    out = tmp_path / "table.md"
    semi = ["semi.steps=2", "semi.eval_every=1", "semi.batch_size=4", "semi.last_evals=1"]
    assert main(["--seeds", "0,1", "--shapes", "uniform,reversed", "--out", str(out), f"out_dir={tmp_path}",
                 *TINY, *semi]) == 0
    table = out.read_text()
    assert "### uniform" in table and "### reversed" in table and "out_dir" not in table
    for variant in ("ce", "ce+pseudo", "fixmatch", "fixmatch+darp", "fixmatch+abc", "fixmatch+acr",
                    "fixmatch+crest", "fixmatch+daso"):
        metric_row = rf"^\| {re.escape(variant)}(?: \| -?[\d.]+ ± [\d.]+){{4}} \|$"  # not the gain rows
        assert len(re.findall(metric_row, table, re.M)) == 2, variant
    assert capsys.readouterr().out.splitlines()[-1].startswith("RESULT uniform/ce=")
    ce_runs = [p for p in (tmp_path / "lt_ssl_shared" / "finetune").iterdir() if p.name.startswith("ce-")]
    assert len(ce_runs) == 2  # one CE run per seed, shared by both shapes


@pytest.mark.slow  # two seeds of nine variants and their diagnoses, ~60 s
def test_remedies_digits_tables_metrics_gains_and_class_difficulty(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("imbens", reason="the ensemble extra: pip install imbsemi[ensemble]")
    main = runpy.run_path(str(ROOT / "experiments" / "remedies_digits.py"))["main"]
    out = tmp_path / "table.md"
    assert main(["--seeds", "0,1", "--out", str(out), f"out_dir={tmp_path}", *TINY, "sections.crt.epochs=1"]) == 0
    table = out.read_text()
    for variant in ("ce", "cb-ce", "focal", "ldam-drw", "meta-weight-net", "bbn", "crt", "spe-on-ce", "spe-on-ssp"):
        cells = rf"^\| {re.escape(variant)}(?: \| -?[\d.]+ ± [\d.]+){{4}} \|"
        assert len(re.findall(cells + "$", table, re.M)) == 1, variant  # the metric row
        assert len(re.findall(cells + r" \d/2 \|", table, re.M)) == (variant != "ce"), variant  # the gain row
    assert "| class | training images | CE recall |" in table and "out_dir" not in table
    assert re.search(r"^\| 9 \| 5 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", table, re.M)
    assert capsys.readouterr().out.splitlines()[-1].startswith("RESULT ce=")
