"""Wall time of a CE run against the original code (YyzHarry/imbalanced-semi-self, train.py), back to back
on the same data and the same CPU: CIFAR-10-LT at rho = 100 from the first ``--train-per-class`` training
images of each class (n_max = 200: 490 images) and a test split of ``--test-per-class`` per class
(3,000), ResNet-32, batch 128, ``--epochs`` epochs. Both test on the test split during training: the
original after every epoch, imbsemi on its default test curve (every 10th epoch and every epoch from the
last LR decay on); imbsemi is also timed without the curve.

The original runs unchanged but for what a CPU and today's libraries need: ``.cuda()`` calls return
their tensor or module, torchvision's CIFAR-10 checksum accepts the subset's files, ``utils.accuracy``
reshapes where today's torch refuses its ``view``, and tensorboardX's writer (not installed here) logs
nothing, which if anything flatters the original.

    python experiments/bench_vs_original.py --original PATH/imbalanced-semi-self --cifar DATA_ROOT \\
        [--epochs 100] [--work DIR] [--out experiments/results/bench_vs_original.md]

``DATA_ROOT`` holds cifar-10-batches-py/ (official pickles, or data_prep/convert_cifar10_jpeg.py's).
Last line: RESULT ratio=<imbsemi with its test curve / original> ratio_no_curve=<...>.
"""
from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from imbsemi.config import FinetuneConfig
from imbsemi.config_files import load_config
from imbsemi.data.cifar import load_cifar10
from imbsemi.errors import user_errors_to_exit
from imbsemi.io import atomic_write
from imbsemi.stages import run_finetune

ROOT = Path(__file__).resolve().parents[1]
# the original on a CPU: only what CUDA-only calls need
ORIGINAL_ON_CPU = """
import runpy, sys, types
import torch, torchvision
torch.Tensor.cuda = lambda self, *args, **kwargs: self
torch.nn.Module.cuda = lambda self, *args, **kwargs: self
torch.cuda.set_device = lambda *args, **kwargs: None
torchvision.datasets.cifar.check_integrity = lambda *args, **kwargs: True
class Writer:
    def __init__(self, *args, **kwargs): pass
    def __getattr__(self, name): return lambda *args, **kwargs: None
sys.modules["tensorboardX"] = types.SimpleNamespace(SummaryWriter=Writer)
import utils
def accuracy(output, target, topk=(1,)):  # utils.accuracy, reshape for view: today's torch refuses the view
    with torch.no_grad():
        correct = output.topk(max(topk), 1, True, True)[1].t().eq(target.view(1, -1))
        return [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / target.size(0)) for k in topk]
utils.accuracy = accuracy
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def write_subset(cifar: Path, out: Path, train_per_class: int, test_per_class: int) -> Path:
    """The first images of each class of ``cifar``'s splits, in CIFAR-10's pickle format under
    ``out/cifar-10-batches-py`` (five training batches, a test batch, the label names)."""
    folder = out / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for split, per_class, names in (("train", train_per_class, [f"data_batch_{i}" for i in range(1, 6)]),
                                    ("test", test_per_class, ["test_batch"])):
        arrays = load_cifar10(split, str(cifar), verify=False)
        keep = np.sort(np.concatenate([np.flatnonzero(arrays.targets == c)[:per_class] for c in range(10)]))
        data = arrays.images[keep].transpose(0, 3, 1, 2).reshape(len(keep), -1)
        for name, part in zip(names, np.array_split(np.arange(len(keep)), len(names))):
            with atomic_write(folder / name) as handle:
                pickle.dump({"data": data[part], "labels": arrays.targets[keep][part].tolist()}, handle)
    with atomic_write(folder / "batches.meta") as handle:
        pickle.dump({"label_names": list(arrays.classes)}, handle)
    return out


def time_original(original: Path, data: Path, epochs: int, work: Path) -> float:
    """Seconds of the original train.py (CE, rho 100) on ``data``, run in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    args = ["--dataset", "cifar10", "--data_path", str(data), "--imb_factor", "0.01", "--loss_type", "CE",
            "--train_rule", "None", "--epochs", str(epochs), "--gpu", "0", "--root_log", str(work / "log"),
            "--root_model", str(work / "checkpoint")]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", ORIGINAL_ON_CPU, *args], cwd=original, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def time_imbsemi(data: Path, epochs: int, work: Path, name: str, *extra: str) -> tuple[float, float]:
    """Seconds and last-epoch test balanced accuracy of imbsemi's CE run (rho 100, n_max: all 200)."""
    config = load_config(FinetuneConfig, "finetune/ce_cifar10.yaml", [
        f"data.root={data}", "data.verify=false", "data.val_per_class=0", f"epochs={epochs}",
        "trainer.enable_progress_bar=false", f"out_dir={work}", f"name={name}", "overwrite=true", *extra])
    start = time.perf_counter()
    result = run_finetune(config)
    return time.perf_counter() - start, result.metrics["test"]["balanced_acc"]


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", type=Path, required=True, help="a checkout of YyzHarry/imbalanced-semi-self")
    parser.add_argument("--cifar", type=Path, required=True, help="data root holding cifar-10-batches-py/")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--train-per-class", type=int, default=200)
    parser.add_argument("--test-per-class", type=int, default=300)
    parser.add_argument("--work", type=Path, default=Path("runs/bench_vs_original"))
    parser.add_argument("--out", type=Path, default=ROOT / "experiments/results/bench_vs_original.md")
    args = parser.parse_args(argv)
    data = write_subset(args.cifar, args.work / "data", args.train_per_class, args.test_per_class)
    original = time_original(args.original, data, args.epochs, args.work / "original")
    curve, curve_acc = time_imbsemi(data, args.epochs, args.work, "curve")
    plain, plain_acc = time_imbsemi(data, args.epochs, args.work, "no_curve", "test_curve=false")
    every, every_acc = time_imbsemi(data, args.epochs, args.work, "every_epoch", "test_curve_every=1")
    rows = [("original train.py (tests every epoch)", original, None),
            ("imbsemi, default test curve", curve, curve_acc), ("imbsemi, test_curve=false", plain, plain_acc),
            ("imbsemi, test_curve_every=1 (every epoch, as the original)", every, every_acc)]
    lines = [f"CE, ResNet-32, CIFAR-10-LT rho 100 ({args.train_per_class} training images per class before the "
             f"long tail), {10 * args.test_per_class} test images, batch 128, {args.epochs} epochs, back to back on "
             f"{os.cpu_count()} CPU cores.", "", "| run | wall (s) | / original | last-epoch test balanced acc. |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {seconds:.0f} | {seconds / original:.2f} | "
              f"{'-' if acc is None else f'{100 * acc:.1f}'} |" for name, seconds, acc in rows]
    with atomic_write(args.out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"RESULT ratio={curve / original:.2f} ratio_no_curve={plain / original:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
