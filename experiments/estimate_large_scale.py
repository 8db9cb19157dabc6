"""Paper-scale time and memory estimate for the large-scale cells (spec §10.3): ResNet-50 at 224 px on
ImageNet-LT and iNaturalist 2018, 90 CE epochs and 200 MoCo v2 epochs.

Measured here (on CPU, exact for any device): parameter counts, and the bytes autograd saves for the
backward pass per image (every tensor saved by the forward, counted once per storage) in fp32 and
under bf16 autocast. Derived: per-GPU memory at the paper's batch, and time per epoch at an assumed
GPU training throughput (``--gpu-images-per-s``, a range when no GPU is at hand), and the CPU cores
the input path needs to keep up, from the per-core decode + augment rate of
``experiments/bench_streaming.py`` (``--cpu-images-per-core``).

    python experiments/estimate_large_scale.py [--gpu-images-per-s 1500,2500,3500] [--out FILE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from imbsemi.models import MODELS

DATASETS = {"ImageNet-LT": (115_846, 1000, 128), "iNat 2018": (437_513, 8142, 100)}  # train images, classes, batch
MOCO_BATCH, MOCO_QUEUE, MOCO_DIM = 128, 65_536, 128
GIB = 2 ** 30


def saved_bytes_per_image(autocast: bool, batch: int = 2) -> float:
    """Bytes autograd keeps for the backward pass of a ResNet-50 training step, per 224-px image."""
    model = MODELS["resnet50"](num_classes=1000).train()
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            model(torch.randn(batch, 3, 224, 224)).float().sum().backward()
    return sum(size for pointer, size in seen.items() if pointer not in parameters) / batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu-images-per-s", default="1500,2500,3500",
                        help="assumed ResNet-50 bf16 training images/s of one GPU (comma-separated)")
    parser.add_argument("--cpu-images-per-core", type=float, default=260.0,
                        help="decode + augment images/s per CPU core (bench_streaming.py, files path)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    fp32, bf16 = saved_bytes_per_image(False), saved_bytes_per_image(True)
    lines = ["# Paper-scale estimate: ResNet-50, 224 px (spec §10.3)", "",
             f"Measured: saved activations per image {fp32 / 2 ** 20:.1f} MiB (fp32), {bf16 / 2 ** 20:.1f} MiB "
             "(bf16 autocast).", "",
             "| dataset | params (M) | weights + grads + SGD momentum (GiB) | activations at the paper's batch, "
             "bf16 (GiB) | MoCo v2 per GPU at batch 128 (GiB) |", "|---|---|---|---|---|"]
    for name, (images, classes, batch) in DATASETS.items():
        params = sum(p.numel() for p in MODELS["resnet50"](num_classes=classes).parameters())
        state = 3 * 4 * params / GIB
        moco_state = (4 * 4 * sum(p.numel() for p in MODELS["resnet50"](num_classes=MOCO_DIM).parameters())
                      + 4 * MOCO_QUEUE * MOCO_DIM) / GIB  # query: weights, grads, momentum; key encoder; queue
        lines.append(f"| {name} | {params / 1e6:.1f} | {state:.2f} | {batch * bf16 / GIB:.1f} (batch {batch}) | "
                     f"{moco_state + MOCO_BATCH * bf16 / GIB:.1f} |")
    speeds = [float(v) for v in args.gpu_images_per_s.split(",")]
    lines += ["", "Time at an assumed GPU throughput G (images/s of CE training; MoCo costs 4/3 of it per image: "
              "query forward + backward, key forward), one GPU; N GPUs divide it when the input keeps up:", "",
              "| dataset | run | images | " + " | ".join(f"G = {g:,.0f}: per epoch / total" for g in speeds) + " |",
              "|---|---|---|" + "---|" * len(speeds)]
    for name, (images, _, _) in DATASETS.items():
        for run, epochs, cost in (("CE 90 epochs", 90, 1.0), ("MoCo v2 200 epochs", 200, 4 / 3)):
            cells = [f"{images * cost / g / 60:.1f} min / {images * cost * epochs / g / 3600:.1f} h" for g in speeds]
            lines.append(f"| {name} | {run} | {images:,} x {epochs} | " + " | ".join(cells) + " |")
    lines += ["", f"Input: at {args.cpu_images_per_core:.0f} decoded + augmented images/s per CPU core, one GPU at G "
              "needs " + ", ".join(f"{g / args.cpu_images_per_core:.0f} cores (G = {g:,.0f})" for g in speeds) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
