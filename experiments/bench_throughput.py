"""Throughput of imbsemi's device-resident input path against the classic DataLoader loop.

A CIFAR-10-LT-sized set (12,406 random uint8 32x32 images, 10 classes). In one run:
  (a) classic: PIL RandomCrop(32, padding=4) + flip + ToTensor + Normalize in a DataLoader with 4
      workers, fp32, batch 128 (the original code's setup);
  (b) imbsemi: DeviceLoader with batched crop/flip at batch 128 and 512 (bf16 + channels_last on CUDA);
  (c) (b) + torch.compile, on CUDA only.
For each: data-only images/s (augmented batches on the device, no model) and ResNet-32 training
images/s; SSL two-view batches (lightly's MoCoV2Transform in a DataLoader vs imbsemi's batched
views); pseudo-labelling (inference) images/s; the test pass of the test curve (3,000 images, eval mode)
against the original's test loop (DataLoader, batch 100).

    python experiments/bench_throughput.py [--device cpu|cuda] [--steps N] [--quick]

Last line: RESULT data_speedup=X train_speedup=Y ssl_data_speedup=Z test_pass_speedup=T (imbsemi's best /
classic).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from imbsemi.accel import eval_batch_size, prepare_model
from imbsemi.classifier.pseudo_labels import predict
from imbsemi.data.arrays import ImageArrays, Provenance
from imbsemi.data.augment import AugmentedViews, CropFlipTransform, Standardize
from imbsemi.data.classic import ArrayDataset
from imbsemi.data.epoch_sampler import EpochSampler
from imbsemi.data.loader import DeviceLoader, eval_loader
from imbsemi.data.recipe import torchvision_transform, training_recipe
from imbsemi.models import MODELS

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def dataset(n: int = 12_406) -> ImageArrays:
    rng = np.random.default_rng(0)
    return ImageArrays(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n),
                       tuple(str(c) for c in range(10)), Provenance.single("random", np.arange(n)))


def endless(make: Callable[[], Iterable]) -> Iterator:
    """Batches from ``make()`` epoch after epoch."""
    while True:
        yield from make()


def to_device(batch: object, device: torch.device) -> object:
    if isinstance(batch, (list, tuple)):
        return tuple(to_device(part, device) for part in batch)
    return batch.to(device, non_blocking=True)


def rate(batches: Iterator, steps: int, warmup: int, device: torch.device,
         step: Callable[[object], int] | None = None) -> float:
    """Images/s over ``steps`` batches after ``warmup`` batches; ``step`` consumes a batch."""
    def consume(batch: object) -> int:
        x, y = to_device(batch, device)
        return step((x, y)) if step else len(y)
    for batch in itertools.islice(batches, warmup):
        consume(batch)
    sync(device)
    start, images = time.perf_counter(), 0
    for batch in itertools.islice(batches, steps):
        images += consume(batch)
    sync(device)
    return images / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step(device: torch.device, fast: bool, compile_model: bool) -> Callable[[object], int]:
    """One SGD step of ResNet-32 on a batch; ``fast``: bf16 autocast, channels_last, fused SGD (CUDA)."""
    model = MODELS["resnet32"](10).to(device)
    if fast:
        prepare_model(model, device, compile_model)
    cuda = device.type == "cuda"
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4,
                                fused=(fast and cuda) or None)

    def step(batch: object) -> int:
        x, y = batch
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast and cuda):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return len(y)
    return step


def classic(arrays: ImageArrays, transform: Callable, batch_size: int = 128) -> Callable[[], DataLoader]:
    loader = DataLoader(ArrayDataset(arrays, transform, seed=0), batch_size=batch_size,
                        sampler=EpochSampler(len(arrays), seed=0), drop_last=True,
                        num_workers=4, persistent_workers=True, pin_memory=torch.cuda.is_available())
    return lambda: loader


@torch.inference_mode()
def test_pass_rate(model: torch.nn.Module, batches: Iterable, device: torch.device) -> float:
    """Images/s of one evaluation pass over ``batches`` (after a warm-up pass), as the test curve runs it."""
    model.eval()
    for _ in range(2):
        sync(device)
        start, images = time.perf_counter(), 0
        for x, y in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                model(to_device(x, device)).argmax(1)
            images += len(y)
        sync(device)
    return images / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=40, help="timed batches per measurement")
    parser.add_argument("--quick", action="store_true", help="few steps (about a minute on 2 CPU cores)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", ".*worker processes in total.*")  # the original setup: 4 workers
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    data_steps, train_steps = (10, 2) if args.quick else (args.steps, args.steps)
    torch.backends.cudnn.benchmark = True
    arrays = dataset()
    mean, std = torch.tensor(MEAN, device=device), torch.tensor(STD, device=device)
    crop = torchvision_transform(training_recipe(flip=True, crop_padding=4), MEAN, STD, image_size=32)
    rows: list[tuple[str, float, float]] = []

    classic_batches = endless(classic(arrays, crop))
    rows.append(("classic DataLoader, fp32, batch 128", rate(classic_batches, data_steps, 2, device),
                 rate(classic_batches, train_steps, 1, device, train_step(device, False, False))))
    variants = [(128, False), (512, False)] + ([(512, True)] if cuda else [])
    for batch_size, compiled in variants:
        loader = DeviceLoader(arrays, batch_size, CropFlipTransform(mean, std, 4, True), shuffle=True, device=device)
        label = f"imbsemi DeviceLoader, batch {batch_size}" + (", bf16" if cuda else "")
        label += ", compile" if compiled else ""
        rows.append((label, rate(endless(lambda: loader), data_steps, 2, device),
                     rate(endless(lambda: loader), train_steps, 3 if compiled else 1, device,
                          train_step(device, True, compiled))))
    print(f"device: {device}; {len(arrays)} images 32x32; timed batches: data {data_steps}, train {train_steps}\n")
    print(f"{'path':<48}{'data img/s':>14}{'train img/s':>14}")
    for label, data_rate, train_rate in rows:
        print(f"{label:<48}{data_rate:>14,.0f}{train_rate:>14,.0f}")

    from lightly.transforms import MoCoV2Transform
    lightly_views = MoCoV2Transform(input_size=32, gaussian_blur=0.0, normalize={"mean": MEAN, "std": STD})
    ssl_classic = rate(endless(classic(arrays, lambda image: tuple(lightly_views(image)))), data_steps, 2, device)
    views = DeviceLoader(arrays, 512, AugmentedViews(mean, std), shuffle=True, device=device)
    ssl_fast = rate(endless(lambda: views), data_steps, 2, device)
    print(f"\nSSL two-view batches: lightly MoCoV2Transform DataLoader {ssl_classic:,.0f} img/s; "
          f"imbsemi AugmentedViews batch 512 {ssl_fast:,.0f} img/s")

    model = MODELS["resnet32"](10).to(device)
    prepare_model(model, device, False)
    pool = DeviceLoader(arrays, 2048 if cuda else 512, Standardize(mean, std), device=device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        predict(model, pool, device)  # warm-up
        sync(device)
        start = time.perf_counter()
        predict(model, pool, device)
        sync(device)
    infer = len(arrays) / (time.perf_counter() - start)
    print(f"pseudo-labelling: {infer:,.0f} img/s (a 500K pool in {500_000 / infer:.1f} s)")

    test = arrays.subset(np.arange(3_000))
    to_tensor = torchvision_transform(training_recipe(flip=False, crop_padding=0), MEAN, STD, image_size=32)
    test_classic = test_pass_rate(model, DataLoader(ArrayDataset(test, to_tensor, seed=0), batch_size=100,
                                                    sampler=[(0, i) for i in range(len(test))], num_workers=4),
                                  device)
    test_fast = test_pass_rate(model, eval_loader(test, MEAN, STD, device), device)
    print(f"test pass (3,000 images, eval mode): classic DataLoader batch 100 {test_classic:,.0f} img/s; imbsemi "
          f"eval_loader batch {eval_batch_size(device)} {test_fast:,.0f} img/s")

    data_speedup = max(r[1] for r in rows[1:]) / rows[0][1]
    train_speedup = max(r[2] for r in rows[1:]) / rows[0][2]
    print(f"RESULT data_speedup={data_speedup:.1f} train_speedup={train_speedup:.2f} "
          f"ssl_data_speedup={ssl_fast / ssl_classic:.1f} test_pass_speedup={test_fast / test_classic:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
