"""Table of user mistakes across the commands: each ends with exit status 2 (no traceback), one line
naming the file, key or value at fault and what was expected, and no finished-looking output."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import CONFIGS
from imbsemi.cli import finetune, main, ssp_pretrain

FAST = ["epochs=1", "trainer.limit_train_batches=1", "trainer.enable_progress_bar=false"]
CE = ["--config", str(CONFIGS / "finetune/ce_digits.yaml"), *FAST]


def files(root: Path) -> None:
    """Bad files the cases point at."""
    (root / "zero.npz").write_bytes(b"")
    np.savez(root / "foreign.npz", a=np.zeros(3))
    np.savez(root / "labels.npz", labels=np.zeros(400, np.int64), confidences=np.ones(400, np.float32))
    (root / "cut.npz").write_bytes((root / "labels.npz").read_bytes()[:300])
    (root / "cut.json").write_text("{}")
    (root / "runs" / "finetune" / "edited").mkdir(parents=True)
    (root / "runs" / "finetune" / "edited" / "run.json").write_text('{"config_hash": ')
    (root / "base.yaml").write_text("base: missing_base.yaml\n")
    (root / "list.yaml").write_text("- a\n- b\n")
    (root / "bad_sweep.yaml").write_text("method: grid\nparameters: {seed: {values: [0]}}\n"
                                         "command: [imbsemi, pipeline]\n")


# (id, command, argv with {tmp} for the test folder, message parts)
CASES: list[tuple[str, Callable, list[str], list[str]]] = [
    ("seed-negative", finetune.main, [*CE, "seed=-1"], ["override seed: seed = -1: must be >= 0"]),
    ("rho-infinite", finetune.main, [*CE, "data.rho=.inf"], ["data.rho = inf: must be a finite number >= 1"]),
    ("rho-u-infinite", finetune.main, [*CE, "pseudo_labels={tmp}/zero.npz", "data.pool.rho_u=.inf"],
     ["data.pool.rho_u = inf: must be a finite number >= 1"]),
    ("name-escapes", finetune.main, [*CE, "name=../x"], ["name = '../x': must be a plain folder name"]),
    ("name-slash", finetune.main, [*CE, "name=a/b"], ["name = 'a/b': must be a plain folder name"]),
    ("unknown-key", finetune.main, [*CE, "optim.lrr=1"], ["command-line override optim.lrr: unknown key optim.lrr"]),
    ("wrong-type", finetune.main, [*CE, "epochs=many"], ["epochs"]),
    ("bad-yaml", finetune.main, [*CE, "optim={{lr: [1"], ["override 'optim={{lr: [1': value is not valid YAML"]),
    ("no-effect", finetune.main, [*CE, "data.pool.relevance=0.5"], ["has no effect on this command"]),
    ("config-missing", finetune.main, ["--config", "{tmp}/nope.yaml"], ["config file {tmp}/nope.yaml does not exist"]),
    ("base-missing", finetune.main, ["--config", "{tmp}/base.yaml"], ["missing_base.yaml does not exist"]),
    ("config-not-mapping", finetune.main, ["--config", "{tmp}/list.yaml"], ["list.yaml"]),
    ("limit-negative", finetune.main, [*CE, "trainer.limit_train_batches=-1"],
     ["trainer: You have passed invalid value -1 for limit_train_batches"]),
    ("trainer-reserved", finetune.main, [*CE, "trainer.max_epochs=3"], ["trainer.max_epochs is set by imbsemi"]),
    ("trainer-unknown", finetune.main, [*CE, "trainer.gpus=1"], ["unknown key trainer.gpus"]),
    ("gpu-without-gpu", finetune.main, [*CE, "trainer.accelerator=gpu"], ["no CUDA GPU"]),
    ("out-dir-is-file", finetune.main, [*CE, "out_dir={tmp}/zero.npz"],
     ["out_dir = {tmp}/zero.npz: cannot create the run folder", "Not a directory"]),
    ("init-missing", finetune.main, [*CE, "init={tmp}/none.pt"], ["init = {tmp}/none.pt: the file does not exist"]),
    ("init-foreign", finetune.main, [*CE, "init={tmp}/foreign.npz"], ["cannot read checkpoint {tmp}/foreign.npz"]),
    ("init-empty", finetune.main, [*CE, "init={tmp}/zero.npz"], ["cannot read checkpoint {tmp}/zero.npz"]),
    ("init-unknown-release", finetune.main, [*CE, "init=pretrained:nope"], ["pretrained:nope: no such checkpoint"]),
    ("pseudo-labels-missing", finetune.main, [*CE, "pseudo_labels={tmp}/none.npz"],
     ["pseudo_labels = {tmp}/none.npz: the file does not exist"]),
    ("pseudo-labels-foreign", finetune.main, [*CE, "pseudo_labels={tmp}/foreign.npz"], ["foreign"]),
    ("pseudo-labels-empty", finetune.main, [*CE, "pseudo_labels={tmp}/zero.npz"],
     ["pseudo-label file {tmp}/zero.npz is empty (0 bytes)"]),
    ("pseudo-labels-truncated", finetune.main, [*CE, "pseudo_labels={tmp}/cut.npz"],
     ["pseudo-label file {tmp}/cut.npz is truncated or not an .npz archive"]),
    ("pseudo-labels-no-sidecar", finetune.main, [*CE, "pseudo_labels={tmp}/labels.npz"],
     ["pseudo-label file {tmp}/labels.json does not exist (the provenance of labels.npz)"]),
    ("run-record-edited", finetune.main, [*CE, "name=edited"], ["finetune/edited/run.json is not valid JSON"]),
    ("crt-without-init", finetune.main, [*CE, "mode=crt"], ["mode: crt needs init=PATH"]),
    ("ssp-batch-1", ssp_pretrain.main, ["--config", str(CONFIGS / "ssp/simclr_digits.yaml"), *FAST,
                                        "optim.batch_size=1"], ["SimCLRSSL needs at least 2 images per batch"]),
    ("ssp-unknown-method", ssp_pretrain.main, ["--config", str(CONFIGS / "ssp/simclr_digits.yaml"),
                                               "method.name=byol"], ["unknown name 'byol'"]),
    ("pseudolabel-no-checkpoint", main.main, ["pseudolabel", "--config", str(CONFIGS / "pseudolabel/digits.yaml")],
     ["checkpoint: required"]),
    ("evaluate-no-checkpoint", main.main, ["evaluate", "--config", str(CONFIGS / "digits_data.yaml")],
     ["checkpoint: required"]),
    ("evaluate-pool-key", main.main, ["evaluate", "--config", str(CONFIGS / "digits_data.yaml"), "data.pool.rho_u=2"],
     ["evaluation reads the test split only"]),
    ("sweep-missing", main.main, ["sweep", "{tmp}/nope.yaml"], ["sweep file {tmp}/nope.yaml does not exist"]),
    ("sweep-bad-command", main.main, ["sweep", "{tmp}/bad_sweep.yaml"], ["must end with ${{args}}"]),
    ("sweep-report-not-a-sweep", main.main, ["sweep-report", "{tmp}"], ["has no sweep.yaml"]),
    ("report-not-a-run", main.main, ["report", "{tmp}"], ["has no metrics.json"]),
    ("inspect-missing", main.main, ["pretrained", "inspect", "{tmp}/none.pt"],
     ["checkpoint {tmp}/none.pt does not exist"]),
    ("convert-foreign", main.main, ["pretrained", "convert", "{tmp}/foreign.npz", "{tmp}/out.pt"],
     ["cannot read checkpoint {tmp}/foreign.npz"]),
    ("fetch-unknown", main.main, ["pretrained", "fetch", "nope"], ["pretrained:nope: no such checkpoint"]),
    ("fetch-not-downloaded", main.main, ["evaluate", "--config", str(CONFIGS / "cifar10_data.yaml"),
                                         "checkpoint=pretrained:paper-cifar10-lt-rho10-ce-uniform-ssp"],
     ["is not downloaded: run `imbsemi pretrained fetch paper-cifar10-lt-rho10-ce-uniform-ssp`"]),
    ("data-summary-bad-value", main.main, ["data", "summary", "--config", str(CONFIGS / "digits_data.yaml"),
                                           "data.rho=0"], ["data.rho = 0: must be a finite number >= 1"]),
    ("config-show-unknown", main.main, ["config", "show", str(CONFIGS / "digits_data.yaml"), "data.rhoo=1"],
     ["unknown key data.rhoo"]),
    ("val-too-large", finetune.main, [*CE, "data.val_per_class=500"], ["validation split", "val_per_class"]),
]


@pytest.mark.parametrize("command, argv, parts", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_mistake_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                        command: Callable, argv: list[str], parts: list[str]) -> None:
    files(tmp_path)
    monkeypatch.setenv("IMBSEMI_CACHE", str(tmp_path / "cache"))
    argv = [a.format(tmp=tmp_path) for a in argv]
    if not any(a.startswith("out_dir=") for a in argv) and "--config" in argv:
        argv.append(f"out_dir={tmp_path / 'runs'}")
    assert command(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for part in parts:
        assert part.format(tmp=tmp_path) in err
    assert not list(tmp_path.rglob("metrics.json"))  # nothing looks finished
