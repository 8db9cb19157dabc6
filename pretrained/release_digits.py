"""Make imbsemi's own releases on the embedded digits data (seed 0) and write their registry entries.

The pipeline of ``quickstart.yaml`` gives the rotation SSP backbone and the CE, CE + SSP and CE +
pseudo-label classifiers; ``ssp/moco_v2_digits.yaml`` and ``ssp/simclr_digits.yaml`` the MoCo v2 and
SimCLR backbones. Each file is copied here and its test metric recorded as ``evaluate`` computes it
(classifiers: balanced and overall test accuracy; backbones: test kNN accuracy), which
tests/test_released.py reproduces exactly. Run: python pretrained/release_digits.py (about 5 minutes on
2 CPU cores); the registry's paper entries are kept as they are.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from imbsemi.config import EvaluateConfig, PipelineConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.io import atomic_write, sha256_file
from imbsemi.stages import evaluate_knn, run_evaluate, run_folder, run_pipeline, run_ssp

HERE = Path(__file__).resolve().parent
PIPELINE = "imbsemi pipeline --config quickstart.yaml"


def classifier_entry(name: str, stage: str, path: Path, command: str) -> dict:
    test = run_evaluate(load_config(EvaluateConfig, "digits_data.yaml",
                                    [f"checkpoint={path}", "out_dir=runs/release"])).metrics["test"]
    return entry(name, stage, path, {"test_balanced_acc": test["balanced_acc"], "test_acc": test["acc"]}, command)


def backbone_entry(method: str, path: Path, config: str, command: str) -> dict:
    knn = evaluate_knn(load_config(SSPConfig, config), path)
    return entry(f"{method}_resnet32_digits_rho10", "ssp", path, {"test_knn_acc": knn}, command)


def entry(name: str, stage: str, path: Path, metric: dict, command: str) -> dict:
    target = HERE / f"{name}.pt"
    shutil.copyfile(path, target)
    return {"name": name, "file": target.name, "url": None, "sha256": sha256_file(target), "arch": "resnet32",
            "layout": "imbsemi", "stage": stage, "dataset": "digits", "rho": 10, "rho_u": 1 if "pseudo" in name
            else None, "metric": metric, "command": f"{command}, seed 0", "cell": None, "source": "imbsemi"}


def main() -> int:
    pipeline = load_config(PipelineConfig, "quickstart.yaml", ["out_dir=runs/release"])
    stages = run_pipeline(pipeline, run_folder(pipeline, "pipeline", "release")).metrics["stages"]
    ours = [backbone_entry("rotation", Path(stages["ce+ssp.ssp"]["folder"]) / "backbone.pt", "ssp/rotation_digits.yaml",
                           f"{PIPELINE}  # its ssp stage")]
    for method in ("moco_v2", "simclr"):
        ssp = run_ssp(load_config(SSPConfig, f"ssp/{method}_digits.yaml", ["out_dir=runs/release"]))
        ours.append(backbone_entry(method, ssp.paths["backbone"], f"ssp/{method}_digits.yaml",
                                   f"ssp_pretrain --config configs/ssp/{method}_digits.yaml"))
    for name, step, stage in (("ce", "ce", "finetune"), ("ce_ssp", "ce+ssp", "finetune"),
                              ("ce_pseudo", "ce+pseudo", "selftrain")):
        ours.append(classifier_entry(f"{name}_resnet32_digits_rho10", stage,
                                     Path(stages[step]["folder"]) / "model.pt", f"{PIPELINE}  # its {step} stage"))
    path = HERE / "registry.yaml"
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    paper = [e for e in yaml.safe_load(path.read_text())["checkpoints"] if e["source"] == "paper"]
    with atomic_write(path, "w") as handle:
        handle.write(header)
        yaml.safe_dump({"checkpoints": ours + paper}, handle, sort_keys=False, width=120)
    for old in set(HERE.glob("*.pt")) - {HERE / e["file"] for e in ours}:
        old.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
