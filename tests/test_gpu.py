"""What only a CUDA machine can check (marked gpu; skipped without one): bf16 autocast of every loss,
channels_last + torch.compile, the DeviceLoader on the GPU, training, pseudo-labelling and a killed and
resumed run on one GPU.

Unit roundoffs: bf16 keeps 8 significant bits, so one rounding is off by at most u = 2^-8 relative;
fp32 keeps 24 (2^-24); TF32, which cuDNN uses for fp32 convolutions by default, keeps 11 (2^-11).
"""
from __future__ import annotations

import copy
import csv
import importlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from conftest import CONFIGS, ROOT
from imbsemi.accel import channels_last, prepare_model, trainer_defaults
from imbsemi.checkpoints import load_backbone, load_classifier
from imbsemi.classifier.pseudo_labels import PseudoLabels
from imbsemi.config import FinetuneConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.data.augment import CropFlipTransform, normalize
from imbsemi.data.loader import DeviceLoader, eval_loader
from imbsemi.data.sources import load
from imbsemi.io import read_json
from imbsemi.losses import LOSSES
from imbsemi.losses.weighting import effective_number_weights
from imbsemi.models.resnet_cifar import NormedLinear, resnet32
from imbsemi.stages import run_finetune, run_pseudolabel, run_ssp
from test_loader_paths import PAD, check_served, coded_arrays
from test_resume import FINETUNE, kill_during_training

CUDA = torch.device("cuda")
ON_GPU = ["trainer.accelerator=gpu", "trainer.devices=1"]
BF16_U = 2.0 ** -8
CLASSIFIER = ROOT / "pretrained/ce_resnet32_digits_rho10.pt"  # the released digits ResNet-32 (eval mode)


@pytest.mark.gpu
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_under_cuda_bf16_autocast_matches_fp32(name: str, soft: bool) -> None:
    """A head on 64-d features, 4 classes of 400 : 100 : 25 : 6 images with effective-number class
    weights, sample weights in [0, 1); the loss and the head's gradients with and without autocast."""
    torch.manual_seed(0)
    counts, n = [400, 100, 25, 6], 256
    cls = LOSSES[name]
    normed = getattr(cls, "requires_normed_head", False)
    head = (NormedLinear(64, 4) if normed else nn.Linear(64, 4)).to(CUDA)
    loss = cls(counts).to(CUDA)
    loss.set_class_weight(torch.as_tensor(effective_number_weights(counts, 0.999)))
    features, samples = torch.randn(n, 64, device=CUDA), torch.rand(n, device=CUDA)
    target = (torch.randn(n, 4, device=CUDA) * 2).softmax(1) if soft else torch.randint(0, 4, (n,), device=CUDA)
    runs = []
    for mixed in (False, True):
        head.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mixed):
            logits = head(features)
            value = loss(logits, target, samples)
        value.backward()
        runs.append((logits.detach(), value.detach(), [p.grad.clone() for p in head.parameters()]))
    (z32, v32, g32), (z16, v16, g16) = runs
    assert v16.dtype == torch.float32 and all(g.dtype == torch.float32 for g in g16)  # fp32 master weights
    if normed:  # the cosine head and the loss run in fp32 under autocast: the same kernels, bit for bit
        assert z16.dtype == torch.float32 and torch.equal(v16, v32)
        assert all(torch.equal(a, b) for a, b in zip(g16, g32))
        return
    assert z16.dtype == torch.bfloat16
    assert torch.equal(v16, loss(z16.float(), target, samples))  # autocast changes the loss only via its logits
    # Each logit sums products of bf16-rounded features and weights (2u) plus a rounded bias, and is
    # rounded to bf16 on output (u, twice if the bias is added after the product is rounded):
    # |dz| <= 4u (|x| |W|^T + |b|); 5u leaves room for the fp32 sums.
    scale = features.abs() @ head.weight.abs().T + head.bias.abs()
    dz = (z16.float() - z32).abs()
    assert (dz <= 5 * BF16_U * scale).all()
    # Mean value theorem: a per-sample loss moves by at most ||dl/dz||_1 max|dz|; ||dl/dz||_1 <= 2 max(w, 1)
    # for the cross-entropies (||p - y||_1 <= 2, class weight w), times 1 + e^-2 (max of the focal term's
    # slope); the weighted mean with sample weights <= 1 moves by at most the largest of them.
    lipschitz = 2 * (1 + math.exp(-2)) * max(float(loss.class_weight.max()), 1.0)
    assert abs(float(v16 - v32)) <= lipschitz * float(dz.max()) + 1e-6 * abs(float(v32))
    # The weight gradient g^T x under autocast multiplies the bf16-rounded incoming gradient and features
    # (2u) and is rounded on output (u); the incoming gradient also moves with the rounded logits, by at
    # most the loss's curvature (<= 1/2 per unit weight) times |dz|: about 4u in all (CPU autocast, whose
    # bf16 arithmetic is the same, measured <= 1u over 100 seeds); 8u = 2^-5 leaves room for cancellation.
    for mixed_grad, full_grad in zip(g16, g32):
        assert (mixed_grad - full_grad).norm() <= 8 * BF16_U * full_grad.norm()


@pytest.mark.gpu
def test_channels_last_and_compile_keep_the_fp32_logits_of_resnet32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # plain fp32 convolutions on both sides
    model, meta = load_classifier(CLASSIFIER)
    test = eval_loader(load("digits", "test", ""), meta["normalization"]["mean"], meta["normalization"]["std"], CUDA)
    images = torch.cat([x for x, _ in test]).contiguous()  # (500, 1, 8, 8)
    plain = copy.deepcopy(model).to(CUDA)
    prepare_model(model.to(CUDA), CUDA, compile_model=True)
    assert model.layer3[0].conv1.weight.is_contiguous(memory_format=torch.channels_last) and not model.training
    assert list(model.state_dict()) == list(plain.state_dict())  # checkpoints keep their key names
    with torch.no_grad():
        expected, logits = plain(images), model(channels_last(images))
    # The same fp32 arithmetic in another order: each convolution sums <= 576 products, off by at most
    # 576 * 2^-24 ~ 3.4e-5 of the sum of their magnitudes; over 33 layers that is ~1.1e-3 of the logits'
    # scale at worst (a wrong layout or a miscompiled kernel is off by O(1)).
    assert torch.allclose(logits, expected, rtol=0, atol=1.1e-3 * float(expected.abs().max()))
    assert torch.equal(logits.argmax(1), expected.argmax(1))


def served_epoch(loader: DeviceLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch of a CUDA DeviceLoader (inputs, targets), on the CPU; every batch was channels_last on the GPU."""
    batches = list(loader)
    assert len(batches) == len(loader)
    assert all(x.is_cuda and x.is_contiguous(memory_format=torch.channels_last) for x, _ in batches)
    inputs, targets = (torch.cat(parts).cpu() for parts in zip(*batches))
    return inputs, targets


@pytest.mark.gpu
def test_device_loader_on_cuda_serves_the_cpu_batches_of_its_seed() -> None:
    """Two epochs: each serves every image once, exactly as the uint8 padded crop (+ flip) of its source
    computed on the CPU, with its target, standardised as on the CPU; the CPU loader of the same seed
    serves the same images, targets and crops (the order and crops are drawn from a CPU stream on every
    device); a fresh loader set to epoch 1 serves the same second epoch (what a resume relies on)."""
    arrays = coded_arrays(200)
    mean, std = torch.tensor([0.2, 0.4, 0.6]), torch.tensor([0.5, 0.25, 0.125])
    transform = CropFlipTransform(mean.to(CUDA), std.to(CUDA), padding=PAD, flip=True)
    loader = DeviceLoader(arrays, 32, transform, shuffle=True, seed=3, device=CUDA)
    epochs, orders = [served_epoch(loader) for _ in range(2)], []
    for x, y in epochs:
        served = (x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)).mul(255).round().to(torch.uint8)
        served = served.permute(0, 2, 3, 1)
        # (pixel / 255 - mean) / std: the same correctly rounded fp32 operations on both devices, on
        # values of magnitude <= 4.8 (whose ulp is 4.8e-7)
        assert torch.allclose(x, normalize(served, mean, std), rtol=0, atol=1e-6)
        orders.append(check_served(arrays, served.numpy(), y.numpy()).tolist())
        assert sorted(orders[-1]) == list(range(len(arrays)))
    assert orders[0] != orders[1]  # a new permutation and new crops each epoch
    on_cpu = DeviceLoader(arrays, 32, CropFlipTransform(mean, std, padding=PAD, flip=True), shuffle=True, seed=3,
                          device=torch.device("cpu"))
    for (x, y), (x_cpu, y_cpu) in zip(epochs, [tuple(map(torch.cat, zip(*on_cpu))) for _ in range(2)]):
        assert torch.equal(y, y_cpu) and torch.allclose(x, x_cpu, rtol=0, atol=1e-6)
    resumed = DeviceLoader(arrays, 32, transform, shuffle=True, seed=3, device=CUDA)
    resumed.epoch = 1
    assert all(torch.equal(a, b) for a, b in zip(served_epoch(resumed), epochs[1]))


class Probe(pl.Callback):
    """What a Trainer did: its precision and device, the dtype of the first convolution's output in
    training steps, the training losses, and the module's state at the start and the end of training."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()
        self.losses: list[float] = []
        self.in_step = False
        self.start: dict[str, torch.Tensor] = {}
        self.end: dict[str, torch.Tensor] = {}
        self.precision, self.device = "", torch.device("cpu")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.precision, self.device = trainer.precision, next(pl_module.parameters()).device
        self.start = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        conv = next(m for m in pl_module.modules() if isinstance(m, nn.Conv2d))
        conv.register_forward_hook(lambda module, args, output: self.dtypes.add(output.dtype) if self.in_step else None)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self.in_step = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.in_step = False
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.end = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}


def probe_trainers(monkeypatch: pytest.MonkeyPatch, stage: str) -> Probe:
    """A Probe that the Trainer of every later run of ``stage`` (finetune, ssp) calls."""
    probe, make_trainer = Probe(), importlib.import_module(f"imbsemi.stages.{stage}").make_trainer

    def probed(*args: Any, **kwargs: Any) -> pl.Trainer:
        trainer = make_trainer(*args, **kwargs)
        trainer.callbacks.append(probe)
        return trainer

    monkeypatch.setattr(f"imbsemi.stages.{stage}.make_trainer", probed)
    return probe


# stage -> (runner, config class, the exported file's role = the module's attribute holding the network)
STAGES = {"finetune": (run_finetune, FinetuneConfig, "model"), "ssp": (run_ssp, SSPConfig, "backbone")}


@pytest.mark.gpu
@pytest.mark.parametrize("stage, relative, extra", [
    ("finetune", "finetune/ce_digits.yaml", []),
    ("finetune", "finetune/ldam_drw_digits.yaml", ["rule.drw_epoch=0"]),  # class weights from the first step
    ("ssp", "ssp/rotation_digits.yaml", [])], ids=["ce", "ldam-drw", "rotation-ssp"])
def test_training_steps_on_one_gpu(fast_config, monkeypatch: pytest.MonkeyPatch, stage: str, relative: str,
                                   extra: list[str]) -> None:
    runner, cls, role = STAGES[stage]
    probe = probe_trainers(monkeypatch, stage)
    result = runner(fast_config(cls, relative, *ON_GPU, *extra))
    assert probe.precision == trainer_defaults({"accelerator": "gpu"})["precision"] == "bf16-mixed"
    assert probe.device.type == "cuda" and probe.dtypes == {torch.bfloat16}  # autocast in the steps
    assert len(probe.losses) == 2 and all(math.isfinite(value) for value in probe.losses)
    assert any(not torch.equal(probe.start[k], v) for k, v in probe.end.items() if v.is_floating_point())
    exported = torch.load(result.paths[role], weights_only=False)["state_dict"]  # where it was saved from
    assert all(v.device.type == "cpu" and torch.equal(v, probe.end[f"{role}.{k}"]) for k, v in exported.items())
    model = resnet32(10, in_channels=1).eval()
    load_backbone(model, result.paths[role], keep_head=False)
    with torch.no_grad():
        assert torch.isfinite(model.features(torch.randn(16, 1, 8, 8))).all()


@pytest.mark.gpu
def test_pseudo_labels_on_the_gpu_match_the_cpu(tmp_path: Path) -> None:
    labels = {}
    for name, device in (("gpu", ON_GPU), ("cpu", ["trainer.accelerator=cpu"])):
        config = load_config(PseudolabelConfig, CONFIGS / "pseudolabel/digits.yaml",
                             [f"out_dir={tmp_path}", f"name={name}", f"checkpoint={CLASSIFIER}",
                              "save_probabilities=true", *device])
        labels[name] = PseudoLabels.load(run_pseudolabel(config).paths["pseudo_labels"])
    gpu, cpu = labels["gpu"], labels["cpu"]
    # cuDNN runs fp32 convolutions in TF32 by default, rounding inputs and weights to 11 bits. That
    # rounding, emulated on the CPU, moves these logits (scale ~33) by <= 0.014 and the probabilities by
    # <= 3.1e-3 (a softmax moves by at most half the largest logit change); 5e-2 allows 16 times that for
    # cuDNN's own orders and transforms (Winograd), while a wrong input (layout, normalisation, order)
    # moves them by O(0.1).
    tolerance = 5e-2
    assert np.abs(gpu.probabilities - cpu.probabilities).max() <= tolerance
    assert np.abs(gpu.confidences - cpu.confidences).max() <= tolerance
    # with every probability within the tolerance, the argmax can only change where the CPU's top two
    # are closer than twice the tolerance
    top = np.sort(cpu.probabilities, axis=1)
    clear = top[:, -1] - top[:, -2] > 2 * tolerance
    assert clear.mean() > 0.9 and np.array_equal(gpu.labels[clear], cpu.labels[clear])


def logged(folder: Path, kept_epoch: int) -> tuple[list[dict[str, str]], list[tuple[str, ...]]]:
    """A run's logs/metrics.csv: the rows (their non-empty values) of the epochs up to ``kept_epoch``,
    and the epoch, step and names of the values of each later row."""
    with open(folder / "logs/metrics.csv", newline="") as handle:
        rows = [{k: v for k, v in row.items() if v} for row in csv.DictReader(handle)]
    return ([row for row in rows if float(row["epoch"]) <= kept_epoch],
            [(row["epoch"], row["step"], *sorted(row)) for row in rows if float(row["epoch"]) > kept_epoch])


@pytest.mark.gpu
def test_a_gpu_run_killed_in_training_resumes_to_the_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """As test_resume's CPU test, on the GPU. There bf16 autocast and cuDNN autotuning (trainer_defaults:
    benchmark, no deterministic algorithms) let two processes pick other kernels, so the weights are not
    bit-identical: what does not depend on rounding is compared exactly, the final metrics within a tolerance."""
    config = CONFIGS / "finetune/ce_digits.yaml"
    common = [*FINETUNE, *ON_GPU, f"out_dir={tmp_path}"]
    reference = run_finetune(load_config(FinetuneConfig, config, [*common, "name=reference"]))
    killed = tmp_path / "finetune" / "killed"
    kill_during_training("FinetuneConfig", "run_finetune", config, [*common, "name=killed"], killed, 2, 6)
    last = killed / "checkpoints/last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=False)
    history, _ = logged(killed, saved["epoch"])
    probe = probe_trainers(monkeypatch, "finetune")
    with caplog.at_level("INFO", logger="imbsemi"):
        resumed = run_finetune(load_config(FinetuneConfig, config, [*common, "name=killed"]))
    assert f"finetune: resuming the unfinished run in {killed} from {last}" in caplog.text
    assert probe.device.type == "cuda" and all(torch.equal(probe.start[k], v) for k, v in saved["state_dict"].items())
    for record in ("run.json", "data_manifest.json"):  # the same config hash, inputs and data splits
        assert read_json(killed / record) == read_json(reference.folder / record)
    # the rows of the epochs before the kill are kept as they were on disk (a kill just after the last
    # checkpoint loses that epoch's end rows), the later epochs are logged once, at the reference's steps
    kept, later = logged(killed, saved["epoch"])
    assert kept == history and later == logged(reference.folder, saved["epoch"])[1]
    assert resumed.metrics["train_size"] == reference.metrics["train_size"]
    # Weights that differ by rounding at the kill diverge over the epochs left (this early, training is
    # chaotic). Perturbing the killed run's checkpoint by relative noise of 2^-16 to 2^-8 (bf16 rounding at
    # most) moved the last epoch's test accuracy by <= 0.078 (39 of the 500 test digits) in 14 CPU trials;
    # 0.2 allows 2.5 times that. The exact checks above are what a broken resume fails.
    for key in ("acc", "balanced_acc"):
        assert abs(resumed.metrics["test_last"][key] - reference.metrics["test_last"][key]) <= 0.2, key
