"""Throughput of several ResNet-32 training runs sharing one device.

K processes for each K in ``--runs``, each running the training loop of ``bench_throughput.py`` (a
CIFAR-10-LT-sized set of 12,406 uint8 32x32 images on the device, batched crop + flip, batch 128, bf16
autocast + channels_last + fused SGD on CUDA), all timed over the same window after a warm-up: the sum
of their images/s, the scaling against one run, and the GPU utilisation (NVML, sampled every 0.2 s
during the window; "-" without one).

    python experiments/bench_concurrency.py [--runs 1,2,4,8] [--steps 300] [--warmup 20] [--device cuda|cpu]

Last line: ``RESULT img_s_<K>=... scaling_<K>=...`` for each K.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from multiprocessing import get_context
from typing import Any

import torch

from bench_throughput import MEAN, STD, dataset, endless, rate, train_step
from imbsemi.data.augment import CropFlipTransform
from imbsemi.data.loader import DeviceLoader


def one_run(device_name: str, steps: int, warmup: int, threads: int, barrier: Any, results: Any) -> None:
    """One process: warm up, wait for the others, then time ``steps`` training steps."""
    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = True
    device = torch.device(device_name)
    mean, std = torch.tensor(MEAN, device=device), torch.tensor(STD, device=device)
    loader = DeviceLoader(dataset(), 128, CropFlipTransform(mean, std, 4, True), shuffle=True, device=device)
    batches, step = endless(lambda: loader), train_step(device, True, False)
    rate(batches, 1, warmup, device, step)  # warm-up: cudnn autotuning, allocator
    barrier.wait()
    results.put(rate(batches, steps, 0, device, step))


def utilization() -> float | None:
    """The GPU's utilisation (%) now, or None without CUDA or NVML."""
    try:
        return float(torch.cuda.utilization())
    except Exception:  # no CUDA, no pynvml, or NVML refused
        return None


def measure(runs: int, device: str, steps: int, warmup: int) -> tuple[float, float | None]:
    """(total images/s, mean GPU utilisation %) of ``runs`` concurrent training processes."""
    context = get_context("spawn")
    barrier, results = context.Barrier(runs + 1), context.Queue()
    threads = max(1, torch.get_num_threads() // runs)
    processes = [context.Process(target=one_run, args=(device, steps, warmup, threads, barrier, results))
                 for _ in range(runs)]
    for process in processes:
        process.start()
    barrier.wait()
    samples, rates = [], []
    while len(rates) < runs:
        value = utilization()
        if value is not None:
            samples.append(value)
        time.sleep(0.2)
        while not results.empty():
            rates.append(results.get())
    for process in processes:
        process.join()
    return sum(rates), (statistics.mean(samples) if samples else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="1,2,4,8", help="numbers of concurrent runs to measure")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps per run first")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    counts = [int(k) for k in args.runs.split(",")]
    rows = [(k, *measure(k, args.device, args.steps, args.warmup)) for k in counts]
    base = rows[0][1] / rows[0][0]  # one run's images/s (per run, if the first K is not 1)
    print(f"device: {args.device}; ResNet-32, batch 128, {args.steps} timed steps per run\n")
    print("| concurrent runs | total images/s | per run | scaling vs 1 run | GPU utilisation % |")
    print("|---|---|---|---|---|")
    for k, total, busy in rows:
        print(f"| {k} | {total:,.0f} | {total / k:,.0f} | {total / base:.2f} | "
              f"{'-' if busy is None else f'{busy:.0f}'} |")
    print("RESULT " + " ".join(f"img_s_{k}={total:.0f} scaling_{k}={total / base:.2f}" for k, total, _ in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
