"""FixMatch (Sohn et al. 2020) as a LightningModule whose training step calls small hooks, so that each
long-tail correction (DARP, ABC, ACR, CReST+, DASO) overrides one or two of them.

One step: a labeled batch (weak views) and an unlabeled batch (weak and strong views) go through the
network in one forward pass; the loss is the labeled cross-entropy plus ``lambda_u`` x the cross-entropy
of the strong views against the weak view's pseudo-labels where the weak prediction is confident.
An exponential moving average of the weights is what is evaluated and exported.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Sequence

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn
import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.accel import prepare_model
from imbsemi.config import SemiConfig
from imbsemi.data.longtail import stream_seed
from imbsemi.data.paired_loader import PairedBatch
from imbsemi.metrics import SUMMARY_METRICS, classification_report
from imbsemi.semi.stats import PseudoLabelStats


@dataclass
class StepOutputs:
    """The forward pass of one step: pooled features and logits of the labeled weak views, the unlabeled
    weak views and each strong view (logits from the network's own head ``fc``)."""
    batch: PairedBatch
    features_labeled: torch.Tensor
    logits_labeled: torch.Tensor
    features_weak: torch.Tensor
    logits_weak: torch.Tensor
    features_strong: tuple[torch.Tensor, ...]
    logits_strong: tuple[torch.Tensor, ...]


def cosine_factor(step: int, steps: int) -> float:
    """FixMatch's per-step learning-rate factor cos(7 pi k / (16 K)): from 1 down to cos(7 pi / 16) = 0.195."""
    return math.cos(7 * math.pi * step / (16 * steps))


class FixMatch(pl.LightningModule):
    """FixMatch with hooks. ``self.net`` holds the network (``model``) and any extra heads a method adds
    (``extra_heads``); ``self.ema`` is their moving average.

    Args:
        model: a network with ``features(x)``, ``feature_dim`` and a linear head ``fc``.
        settings: the config (threshold, lambda_u, ema, optimiser, steps, seed, ...).
        labeled_counts: labeled images per class.
        pool_size: images in the unlabeled pool (methods that keep per-image state size it by this).

    Hooks (override in a method's file): ``extra_heads``, ``pseudo_targets`` (the weak view's target
    distribution: distribution alignment, refinement), ``confidence_mask``, ``supervised_loss``,
    ``unlabeled_loss``, ``extra_loss``, ``eval_logits``, ``export_network``, ``labeled_additions`` and
    ``on_interval_end`` (after each evaluation interval). ``strong_views``: strong views per image.
    """

    strong_views = 1

    def __init__(self, model: nn.Module, settings: SemiConfig, labeled_counts: Sequence[int], pool_size: int) -> None:
        super().__init__()
        self.settings, self.pool_size = settings, pool_size
        self.num_classes = len(labeled_counts)
        self.register_buffer("labeled_counts", torch.tensor(list(labeled_counts), dtype=torch.float32))
        self.net = nn.ModuleDict({"model": model, **self.extra_heads(model.feature_dim, self.num_classes)})
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.stats = PseudoLabelStats(self.num_classes)
        self.history: list[dict[str, Any]] = []  # one entry per evaluation during training
        self.final_report: dict[str, Any] | None = None  # of an evaluation after training
        self.shot_thresholds: Sequence[float] | None = settings.shot_thresholds
        self._predictions: list[tuple[torch.Tensor, torch.Tensor]] = []

    # ---- hooks -------------------------------------------------------------------------------------
    def extra_heads(self, feature_dim: int, num_classes: int) -> dict[str, nn.Module]:
        """Modules trained beside the network (and averaged into the EMA), by name."""
        return {}

    def pseudo_targets(self, probs: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """The target distribution of each unlabeled image from its weak view's softmax (muB, C)."""
        return probs

    def confidence_mask(self, targets: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """Float (muB,) weights of the unlabeled images: 1 where the largest target probability is at
        least ``threshold``."""
        return (targets.max(1).values >= self.settings.threshold).float()

    def supervised_loss(self, out: StepOutputs) -> torch.Tensor:
        """Cross-entropy of the labeled weak views."""
        return F.cross_entropy(out.logits_labeled, out.batch.targets)

    def unlabeled_loss(self, out: StepOutputs, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked cross-entropy of each strong view against the hard pseudo-label argmax(targets),
        averaged over the unlabeled batch."""
        hard = targets.argmax(1)
        losses = [(F.cross_entropy(logits, hard, reduction="none") * mask).mean() for logits in out.logits_strong]
        return torch.stack(losses).mean()

    def extra_loss(self, out: StepOutputs, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """A method's further loss term (None: none)."""
        return None

    def eval_logits(self, net: nn.ModuleDict, images: torch.Tensor) -> torch.Tensor:
        """Logits that evaluation predicts from (``net``: the EMA networks)."""
        return net["model"](images)

    def export_network(self) -> nn.Module:
        """The classifier exported as model.pt: the EMA network."""
        return self.ema["model"]

    def labeled_additions(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(pool indices, labels) of pool images that join the labeled set (None: none)."""
        return None

    def on_interval_end(self) -> None:
        """Called after each evaluation interval's last step and its evaluation."""

    # ---- training ----------------------------------------------------------------------------------
    def step_generator(self, stream: int) -> torch.Generator:
        """A CPU generator for this step's random draws of ``stream`` (>= 4; the paired loader uses 1-3),
        seeded by (seed, stream, step, rank): a resumed run draws what an uninterrupted one would."""
        return torch.Generator().manual_seed(stream_seed(self.settings.seed, stream, self.global_step,
                                                         self.global_rank))

    def on_fit_start(self) -> None:
        prepare_model(self.net["model"], self.device, False)

    def forward_step(self, batch: PairedBatch) -> StepOutputs:
        """One forward pass of all views together (one set of BatchNorm statistics, as FixMatch)."""
        model = self.net["model"]
        views = [batch.labeled, batch.weak, *batch.strong]
        features = model.features(torch.cat(views))
        logits = model.fc(features)
        sizes = [len(v) for v in views]
        feats, outs = features.split(sizes), logits.split(sizes)
        return StepOutputs(batch, feats[0], outs[0], feats[1], outs[1], tuple(feats[2:]), tuple(outs[2:]))

    def training_step(self, batch: PairedBatch, batch_idx: int) -> torch.Tensor:
        out = self.forward_step(batch)
        with torch.no_grad():
            targets = self.pseudo_targets(out.logits_weak.detach().float().softmax(1), out)
            mask = self.confidence_mask(targets, out)
            self.stats.update(targets.argmax(1), mask, batch.reference)
        supervised = self.supervised_loss(out)
        unlabeled = self.unlabeled_loss(out, targets, mask)
        loss = supervised + self.settings.lambda_u * unlabeled
        extra = self.extra_loss(out, targets, mask)
        if extra is not None:
            loss = loss + extra
            self.log("train/extra_loss", extra, batch_size=len(batch.targets))
        size = len(batch.targets)
        self.log_dict({"train/loss": loss, "train/supervised_loss": supervised, "train/unlabeled_loss": unlabeled,
                       "train/mask": mask.mean()}, batch_size=size)
        return loss

    @torch.no_grad()
    def on_train_batch_end(self, outputs: Any, batch: PairedBatch, batch_idx: int) -> None:
        """EMA of the parameters; buffers (BatchNorm statistics) copied, as FixMatch."""
        decay = self.settings.ema
        for average, current in zip(self.ema.parameters(), self.net.parameters()):
            average.lerp_(current.detach(), 1 - decay)
        for average, current in zip(self.ema.buffers(), self.net.buffers()):
            average.copy_(current)

    def configure_optimizers(self) -> dict:
        optim, steps = self.settings.optim, self.settings.steps
        # no weight decay on biases and BatchNorm weights, as FixMatch
        decayed = [p for n, p in self.net.named_parameters() if p.ndim > 1]
        plain = [p for n, p in self.net.named_parameters() if p.ndim <= 1]
        optimizer = torch.optim.SGD([{"params": decayed, "weight_decay": optim.weight_decay},
                                     {"params": plain, "weight_decay": 0.0}],
                                    lr=optim.lr, momentum=optim.momentum, nesterov=optim.nesterov)
        factor = (lambda step: cosine_factor(step, steps)) if optim.schedule == "cosine" else (lambda step: 1.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---- evaluation --------------------------------------------------------------------------------
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        self._predictions.append((self.eval_logits(self.ema, images).argmax(1), targets))

    def on_validation_epoch_end(self) -> None:
        preds, targets = (torch.cat(parts) for parts in zip(*self._predictions))
        self._predictions.clear()
        if self.trainer.sanity_checking:
            return
        report = classification_report(preds.cpu(), targets.cpu(), self.labeled_counts.long().tolist(),
                                       self.shot_thresholds)
        if self.trainer.state.fn != TrainerFn.FITTING:  # an evaluation after training
            self.final_report = report
            return
        entry = {"step": int(self.global_step), **{k: report[k] for k in (*SUMMARY_METRICS, "per_class_acc")},
                 "pseudo_labels": self.stats.summary()}
        self.stats.reset()
        self.history.append(entry)
        logged = {"eval/acc": report["acc"], "eval/balanced_acc": report["balanced_acc"], "eval/few": report["few"],
                  "semi/mask_rate": entry["pseudo_labels"]["mask_rate"],
                  "semi/pseudo_label_accuracy": entry["pseudo_labels"]["accuracy"]}
        self.log_dict({key: value for key, value in logged.items() if value is not None})  # None: nothing kept
        for name in ("class_mask_rate", "class_precision", "class_recall"):
            for label, value in enumerate(entry["pseudo_labels"][name]):
                if value is not None:
                    self.log(f"semi/{name}/{label}", value)
        self.on_interval_end()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["semi_history"] = self.history

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = list(checkpoint.get("semi_history", []))
