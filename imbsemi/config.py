"""Config schemas per CLI, loaded strictly from YAML (``base:`` inheritance, dotted overrides), and a hash.

Every section is a frozen dataclass: the dataclass is the schema. Each field is a ``setting`` with a
one-line ``doc`` (the key reference of ``--help``, see ``describe_schema``) and an optional range
``check``, so the loader reports ``data.rho = 0.5: must be >= 1`` with the key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from imbsemi.data.file_sources import FILE_SOURCES
from imbsemi.dataclass_yaml import at_least, between, finite_at_least, greater_than, open_interval, optional, setting

# Trainer arguments the CLIs set themselves; users set `epochs` or the run folder instead.
RESERVED_TRAINER_KEYS = ("max_epochs", "logger", "callbacks", "default_root_dir", "enable_checkpointing")

SAFE_NAME = re.compile(r"[A-Za-z0-9._=+-]+")


# The kNN monitor's defaults: neighbours and vote temperature (lightly's benchmarks); imbsemi.ssl.knn
# imports them (config loading must not import torch or lightly).
KNN_K, KNN_T = 20, 0.1


@dataclass(frozen=True)
class SourceRef:
    """A split of a registered data source; a plain string is the name."""
    SHORTHAND = "name"
    name: str = setting(doc="registered data source, e.g. digits, photos, cifar10, svhn, folder")
    split: str = setting("train", "split of the source to read, e.g. train or test")
    root: str | None = setting(None, "folder of the source's files (null: data.root)")


@dataclass(frozen=True)
class PoolConfig:
    """Unlabeled pool: relevant images per class following rho_u, the rest irrelevant."""
    size_factor: float = setting(5.0, "pool size as a multiple of the labeled set: int(size_factor x |labeled|)",
                                 greater_than(0))
    rho_u: float = setting(1.0, "imbalance ratio of the relevant images per class, chosen by reference labels",
                           finite_at_least(1))
    relevance: float = setting(1.0, "share of the pool drawn from `relevant`; the rest uniformly from `irrelevant`",
                               between(0, 1))
    relevant: SourceRef | None = setting(
        None, "source of the relevant images (null: the training images not in the labeled or validation set)")
    irrelevant: SourceRef | None = setting(None, "source of the irrelevant images (needed when relevance < 1)")
    allow_shortage: bool = setting(False, "a class with too few images gives all it has, with a warning, "
                                          "instead of an error")
    n_max: int | None = setting(None, "M1: relevant images of the pool's largest class; class i (of C, from the "
                                      "largest) gets int(relevance x M1 x rho_u^(-i/(C-1))), the LT-SSL rule, and "
                                      "size_factor is not read (null: the paper's rule from size_factor)",
                                optional(at_least(1)))
    order: Literal["same", "reversed"] = setting(
        "same", "which class gets the most unlabeled images: same: the labeled head class first (consistent); "
                "reversed: the labeled tail class first (rho_u = rho with reversed is the LT-SSL 'reversed' pool)")
    include_labeled: bool = setting(False, "the labeled images also join the pool (as ACR-family code), after "
                                           "the draw")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation of classifier and rotation batches."""
    crop_padding: int = setting(4, "random crop after zero padding by this many pixels per side (0: no crop)",
                                at_least(0))
    flip: bool = setting(True, "random horizontal flip with probability 0.5")
    crop_size: int = setting(224, "split-file sources: side of the random resized crop (training) and of the "
                                  "centre crop (evaluation)", at_least(1))
    resize: int = setting(256, "split-file sources: evaluation resizes the shorter side to this, then centre-crops",
                          at_least(1))
    min_scale: float = setting(0.08, "split-file sources: smallest area share of a random resized crop",
                               (lambda v: 0 < v <= 1, "must be in (0, 1]"))
    color_jitter: float = setting(0.4, "split-file sources: brightness, contrast and saturation jitter strength "
                                       "(0: none, as the iNaturalist recipe)", at_least(0))


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how the long-tailed labeled set, validation split and pool are drawn."""
    source: str = setting("digits", "registered data source of the labeled set and the default pool, or a "
                                    "split-file dataset used as it is: imagenet_lt, places_lt, inat2018")
    root: str = setting("data", "folder the data files are read from (and downloaded to); for split-file "
                                "sources, where the split files and the image paths they list start")
    imb_type: Literal["exp", "step", "uniform"] = setting(
        "exp", "class counts: exponential decay, half n_max / half n_max / rho, or n_max for every class")
    rho: float = setting(10.0, "imbalance ratio n_max / n_min of the labeled set", finite_at_least(1))
    n_max: int | None = setting(None, "labeled images of the head class (null: the source's, else the largest "
                                      "that the training images left after the validation hold-out allow: "
                                      "images per class on a balanced source, as the paper)",
                                optional(at_least(1)))
    val_per_class: int = setting(10, "images per class held out first for model selection (0: none, the "
                                     "last epoch is kept)", at_least(0))
    download: bool = setting(False, "fetch missing CIFAR/SVHN files")
    verify: bool = setting(True, "check CIFAR/SVHN files: torchvision's md5, or the sha256 a conversion recorded")
    image_size: int = setting(32, "side in pixels that folder images are resized to", at_least(1))
    loader: Literal["device", "torch", "litdata"] = setting(
        "device", "device: images stay on the training device, whole batches augmented; torch: Dataset + "
                  "DataLoader with per-image transforms (split-file sources: JPEGs decoded in workers); litdata: "
                  "split-file training sets streamed from shards (`imbsemi data shards` writes them)")
    shards: str | None = setting(None, "loader: litdata: folder (or object-store URL, e.g. s3://...) of the training "
                                       "split's shards (null: <root>/shards/<source>_train)")
    workers: int = setting(4, "DataLoader worker processes of loader: torch", at_least(0))
    drop_last: bool = setting(False, "leave each epoch's last partial batch out (fixed batch shapes); default: "
                                     "every image every epoch, as the original")
    splits: dict[str, str] = setting(doc="split-file sources: split files by split (train, val, test; a .txt list "
                                         "or an iNat-style .json), relative to root ({}: the source's)",
                                     check=(lambda v: set(v) <= {"train", "val", "test"},
                                            "keys must be among train, val, test"), factory=dict)
    pool: PoolConfig = setting(factory=PoolConfig)
    augment: AugmentConfig = setting(factory=AugmentConfig)


@dataclass(frozen=True)
class ModelConfig:
    """Backbone network."""
    arch: str = setting("resnet32", "architecture: a MODELS name, e.g. resnet32")
    kwargs: dict[str, Any] = setting(doc="extra keyword arguments of the architecture", factory=dict)
    compile: bool = setting(False, "torch.compile the forward on CUDA (ignored on CPU)")


@dataclass(frozen=True)
class OptimConfig:
    """SGD with linear learning-rate warm-up, then a schedule."""
    lr: float = setting(0.1, "base learning rate, reached at the end of the warm-up", greater_than(0))
    momentum: float = setting(0.9, "SGD momentum", between(0, 1))
    weight_decay: float = setting(2e-4, "L2 weight decay", at_least(0))
    batch_size: int = setting(128, "training images per batch", at_least(1))
    warmup_epochs: int = setting(5, "epochs of linear warm-up from lr / warmup_epochs to lr", at_least(0))
    schedule: Literal["step", "cosine"] = setting(
        "step", "after the warm-up: step (x0.01 at 80% and x1e-4 at 90% of the epochs, the original) or cosine "
                "(to 0)")


@dataclass(frozen=True)
class LossConfig:
    """Classification loss."""
    name: str = setting("ce", "a LOSSES name: ce, focal, ldam, balanced_softmax, logit_adjusted")
    kwargs: dict[str, Any] = setting(doc="hyper-parameters of the loss", factory=dict)


@dataclass(frozen=True)
class RuleConfig:
    """Train rule: how training counters the class imbalance besides the loss."""
    name: Literal["none", "reweight", "resample", "resample_effective", "reversed", "drw"] = setting(
        "none", "reweight: class weights throughout; drw: class weights from drw_epoch; resample: exact "
                "class-balanced sampling; resample_effective: the original's effective-number sampler; "
                "reversed: BBN's reversed sampler (class probability proportional to 1 / n_c)")
    weights: Literal["effective_number", "inverse_frequency"] = setting(
        "effective_number", "class weights of reweight and drw: effective number of images (beta) or inverse "
                            "frequency")
    beta: float = setting(0.9999, "beta of the effective number (1 - beta^n) / (1 - beta) of n images",
                          open_interval(0, 1))
    drw_epoch: int | None = setting(None, "first epoch with class weights under drw (null: drw_fraction of "
                                          "the epochs)", optional(at_least(0)))
    drw_fraction: float = setting(0.8, "drw's first weighted epoch as a share of the epochs, when drw_epoch "
                                       "is null", between(0, 1))


@dataclass(frozen=True)
class WandbConfig:
    """Weights & Biases run: one per command (a pipeline's stages log under ssp/, base/, pseudo/, selftrain/)."""
    project: str = setting("imbsemi", "wandb project")
    entity: str | None = setting(None, "wandb user or team (null: the account's default)")
    group: str | None = setting(None, "wandb group (null: the run folder's name)")
    tags: list[str] = setting(doc="wandb tags", factory=list)
    mode: Literal["offline", "online", "disabled"] = setting(
        "offline", "offline: written under the run folder's wandb/, upload later with `wandb sync`; online: "
                   "needs a login")
    name: str | None = setting(None, "wandb run name (null: the command's overrides, e.g. 'relevance=0.6 seed=1', "
                                     "else the run folder's name)")


@dataclass(frozen=True)
class LoggerConfig:
    """Experiment tracking besides the CSV logs every run writes (logs/metrics.csv)."""
    wandb: WandbConfig | None = setting(None, "wandb tracking, e.g. {project: lt, mode: online} (null: off)")


@dataclass(frozen=True)
class CommonConfig:
    """Keys every CLI shares."""
    seed: int = setting(0, "random seed of the data draws, initialisation and training", at_least(0))
    name: str | None = setting(None, "run folder name under out_dir/<stage>/ (null: <config file name>-<hash>)",
                               (lambda v: v is None or bool(SAFE_NAME.fullmatch(v)) and v not in (".", ".."),
                                "must be a plain folder name: letters, digits and . _ - = + (no / or ..)"))
    out_dir: str = setting("runs", "folder of the runs: out_dir/<stage>/<name>")
    overwrite: bool = setting(False, "start over in a run folder that holds a run of another config (or a finished "
                                     "one); default: refuse, resume an unfinished run of this config, skip a "
                                     "finished one")
    data: DataConfig = setting(factory=DataConfig)
    model: ModelConfig = setting(factory=ModelConfig)
    trainer: dict[str, Any] = setting(doc="more pytorch_lightning.Trainer arguments, e.g. accelerator: cpu",
                                      factory=dict)
    logger: LoggerConfig = setting(factory=LoggerConfig)

    def inert_keys(self) -> dict[str, str]:
        """The dotted keys that cannot change what this config's stage computes, each with the reason.

        They are left out of the config hash (a base classifier is the same run whatever the pool
        settings) and overriding one on the command line is an error rather than a silent no-op. Each
        stage's config adds its own."""
        return data_inert_keys(self.data)


FILE_ONLY_KEYS = ("data.splits", "data.shards", "data.augment.crop_size", "data.augment.resize",
                  "data.augment.min_scale", "data.augment.color_jitter")
SAMPLED_ONLY_KEYS = ("data.pool", "data.imb_type", "data.rho", "data.n_max", "data.val_per_class", "data.download",
                     "data.verify", "data.image_size", "data.augment.crop_padding")


def data_inert_keys(data: DataConfig) -> dict[str, str]:
    """The data keys a source cannot read: split-file datasets are used as their files define them (no
    sub-sampling, pool or padded crops); the other sources have no split files or resized crops."""
    if data.source in FILE_SOURCES:
        return {key: f"data.source = {data.source} is a split-file dataset, used as its split files define it"
                for key in SAMPLED_ONLY_KEYS}
    return {key: f"only split-file sources ({', '.join(FILE_SOURCES)}) read it" for key in FILE_ONLY_KEYS}


@dataclass(frozen=True)
class MethodConfig:
    """Self-supervised method; a plain string is the name."""
    SHORTHAND = "name"
    name: str = setting("rotation", "an SSL_METHODS name: rotation, moco_v2, simclr")
    kwargs: dict[str, Any] = setting(doc="hyper-parameters of the method", factory=dict)


@dataclass(frozen=True)
class KNNConfig:
    """kNN monitor: validation accuracy of a vote among the nearest labeled images' features."""
    every: int = setting(10, "run the monitor every this many epochs and at the last epoch", at_least(1))
    k: int = setting(KNN_K, "neighbours that vote", at_least(1))
    t: float = setting(KNN_T, "temperature of the similarity-weighted vote", greater_than(0))
    layer: str | None = setting(None, "read features at the end of this submodule, e.g. layer2 (null: the "
                                      "end of the network)")


@dataclass(frozen=True)
class SSPStage:
    """Stage 1: self-supervised pre-training."""
    method: MethodConfig = setting(factory=MethodConfig)
    epochs: int = setting(200, "training epochs", greater_than(0))
    optim: OptimConfig = setting(factory=OptimConfig)
    knn: KNNConfig = setting(factory=KNNConfig)


@dataclass(frozen=True)
class SelfTrainingConfig:
    """Stage 3 with pseudo_labels: training on labeled and pseudo-labeled pool images."""
    omega: float = setting(1.0, "loss weight of pseudo-labeled images (the paper: 1)", at_least(0))
    threshold: float = setting(0.0, "pool images join with confidence >= threshold (the paper: 0, all)",
                               between(0, 1))
    unlabeled_share: float | None = setting(
        None, "expected share of pool images per batch (null: their natural proportion, as the paper)",
        optional(open_interval(0, 1)))
    soft: bool = setting(False, "train on the stored softmax instead of its argmax (needs pseudo-labels made "
                                "with save_probabilities)")


# The scalar numbers of a test report (imbsemi.metrics.classification_report), in table order.
SummaryMetric = Literal["acc", "balanced_acc", "macro_f1", "g_mean", "many", "medium", "few"]


def shot_thresholds_setting() -> Any:
    """The ``shot_thresholds`` key of the commands that report many/medium/few accuracy."""
    return setting(None, "[many, few]: many-shot classes have over `many` training images, few-shot under `few` "
                         "(null: 100 / 20, or log-count thirds when no class has over 100)",
                   (lambda v: v is None or (len(v) == 2 and v[0] >= v[1] >= 0),
                    "must be [many_above, few_below] with many_above >= few_below >= 0 (or null: automatic)"))


@dataclass(frozen=True)
class ClassifierMethodConfig:
    """Training method of the classifier; a plain string is the name."""
    SHORTHAND = "name"
    name: Literal["standard", "meta_weight_net", "bbn"] = setting(
        "standard", "a CLASSIFIER_METHODS name: standard (the loss on the training batches), meta_weight_net, bbn")
    kwargs: dict[str, Any] = setting(doc="hyper-parameters of the method", factory=dict)


@dataclass(frozen=True)
class EnsembleConfig:
    """mode: ensemble: an estimator of the imbalanced-learning toolbox on the init network's features."""
    estimator: str = setting(
        "SelfPacedEnsembleClassifier", "class name in imbens.ensemble (imbalanced-ensemble), imblearn.ensemble "
                                       "(imbalanced-learn) or sklearn.ensemble, searched in that order, or a "
                                       "dotted path module.Class")
    kwargs: dict[str, Any] = setting(doc="the estimator's keyword arguments (random_state defaults to seed)",
                                     factory=dict)


@dataclass(frozen=True)
class FinetuneStage:
    """Stages 2 and 3: classifier training on labeled (and pseudo-labeled) images."""
    loss: LossConfig = setting(factory=LossConfig)
    rule: RuleConfig = setting(factory=RuleConfig)
    self_training: SelfTrainingConfig = setting(factory=SelfTrainingConfig)
    epochs: int = setting(200, "training epochs", greater_than(0))
    optim: OptimConfig = setting(factory=OptimConfig)
    method: ClassifierMethodConfig = setting(factory=ClassifierMethodConfig)
    mode: Literal["train", "crt", "tau_norm", "ensemble"] = setting(
        "train", "train: the whole network; crt: a new head on the frozen backbone (BatchNorm statistics too), "
                 "class-balanced; tau_norm: no training, the init classifier's head rescaled by tau; ensemble: "
                 "no network training, `ensemble.estimator` fitted on the init network's features")
    ensemble: EnsembleConfig = setting(factory=EnsembleConfig)
    tau: float | None = setting(1.0, "tau of tau_norm (null: picked on the validation split from 0, 0.1, ..., 2)",
                                optional(at_least(0)))
    posthoc_tau: float = setting(0.0, "> 0: evaluate with post-hoc logit adjustment by this tau", at_least(0))
    selection: Literal["last_decay", "best", "last"] = setting(
        "last_decay", "exported epoch with a validation split: last_decay = best selection_metric "
                      "from the last LR decay (the last tenth of the run) on; best = of all epochs; last = the last")
    selection_metric: SummaryMetric = setting(
        "balanced_acc", "the validation number that selects the exported epoch and tau_norm's tau: balanced_acc, "
                        "acc, macro_f1, g_mean (geometric mean of per-class recalls), many, medium or few")
    test_curve: bool = setting(True, "log test metrics (test/...; a diagnostic, never selects) every "
                                     "test_curve_every epochs and every epoch from the last LR decay on; each "
                                     "point is one pass over the test set (3,000 32x32 images: ~2 s on 2 CPU cores)")
    test_curve_every: int = setting(10, "epochs between test-curve points before the last LR decay", at_least(1))
    shot_thresholds: list[float] | None = shot_thresholds_setting()


@dataclass(frozen=True)
class SemiMethodConfig:
    """Semi-supervised method; a plain string is the name."""
    SHORTHAND = "name"
    name: str = setting("fixmatch", "a SEMI_METHODS name: fixmatch, darp, abc, acr, crest, daso")
    kwargs: dict[str, Any] = setting(doc="hyper-parameters of the method's correction", factory=dict)


@dataclass(frozen=True)
class SemiOptimConfig:
    """SGD of joint training, scheduled per step."""
    lr: float = setting(0.03, "base learning rate", greater_than(0))
    momentum: float = setting(0.9, "SGD momentum", between(0, 1))
    nesterov: bool = setting(True, "Nesterov momentum")
    weight_decay: float = setting(5e-4, "L2 weight decay", at_least(0))
    schedule: Literal["cosine", "constant"] = setting(
        "cosine", "cosine: lr x cos(7 pi k / (16 K)) at step k of K (FixMatch's); constant: lr throughout")


@dataclass(frozen=True)
class StrongViewConfig:
    """The strong view of unlabeled images: RandAugment with a random magnitude per op, then Cutout."""
    num_ops: int = setting(2, "RandAugment ops per image, chosen with replacement", at_least(0))
    cutout: float = setting(0.5, "Cutout's square has a side of U(0, cutout) x the image side", between(0, 1))


@dataclass(frozen=True)
class SemiStage:
    """Joint training on labeled and unlabeled batches (the FixMatch family)."""
    method: SemiMethodConfig = setting(factory=SemiMethodConfig)
    steps: int = setting(250_000, "training steps (optimizer updates)", greater_than(0))
    eval_every: int = setting(500, "steps between evaluations of the EMA model on the test split", greater_than(0))
    batch_size: int = setting(64, "labeled images per step (B)", at_least(1))
    mu: int = setting(2, "unlabeled images per step as a multiple of batch_size", at_least(1))
    threshold: float = setting(0.95, "confidence a weak-view prediction needs to become a pseudo-label",
                               between(0, 1))
    lambda_u: float = setting(1.0, "weight of the unlabeled loss", at_least(0))
    ema: float = setting(0.999, "decay of the exponential moving average of the weights (evaluated and "
                                "exported)", between(0, 1))
    padding_mode: Literal["constant", "reflect"] = setting("reflect", "padding of the random crop of both views")
    strong: StrongViewConfig = setting(factory=StrongViewConfig)
    optim: SemiOptimConfig = setting(factory=SemiOptimConfig)
    last_evals: int = setting(20, "the reported protocol: mean and median of the last this many evaluations",
                              at_least(1))
    shot_thresholds: list[float] | None = shot_thresholds_setting()


@dataclass(frozen=True)
class PseudolabelStage:
    """Prediction of the unlabeled pool."""
    batch_size: int | None = setting(None, "images per prediction batch (null: 128 on a CPU, 512 on a GPU)",
                                     optional(at_least(1)))
    save_probabilities: bool = setting(False, "also store the full softmax (soft targets for self_training.soft)")


@dataclass(frozen=True)
class SSPConfig(SSPStage, CommonConfig):
    """`ssp_pretrain` config."""

    def inert_keys(self) -> dict[str, str]:
        return {**super().inert_keys(),
                "data.pool": "self-supervised pre-training reads the labeled images only, never the pool"}


@dataclass(frozen=True)
class FinetuneConfig(FinetuneStage, CommonConfig):
    """`finetune` config."""
    init: str | None = setting(None, "checkpoint to start from: an SSP backbone.pt, the model.pt of crt and "
                                     "tau_norm, pretrained:NAME, or a file of any released layout (null: random "
                                     "initialisation)")
    pseudo_labels: str | None = setting(None, "pseudo_labels.npz of `imbsemi pseudolabel` to self-train with "
                                              "(null: labeled images only)")

    def inert_keys(self) -> dict[str, str]:
        reasons = super().inert_keys()
        if self.pseudo_labels is None:
            for key in ("data.pool", "self_training"):
                reasons[key] = "without pseudo_labels finetune trains on the labeled images only"
        if self.mode != "tau_norm":
            reasons["tau"] = f"only mode: tau_norm reads tau (mode is {self.mode})"
        if self.mode != "ensemble":
            reasons["ensemble"] = f"only mode: ensemble reads ensemble (mode is {self.mode})"
        else:
            trained = "mode: ensemble trains no network"
            reasons.update({key: trained for key in ("loss", "rule", "optim", "method", "epochs", "selection",
                                                     "selection_metric", "test_curve", "test_curve_every",
                                                     "posthoc_tau", "data.augment")})
        return reasons


@dataclass(frozen=True)
class SemiConfig(SemiStage, CommonConfig):
    """`imbsemi semi` config."""
    init: str | None = setting(None, "checkpoint to start from: an SSP backbone.pt, a classifier's model.pt, "
                                     "pretrained:NAME (null: random initialisation)")

    def inert_keys(self) -> dict[str, str]:
        served = "joint training serves fixed-size batches from the device, drawn step by step"
        return {**super().inert_keys(), **{key: served for key in ("data.loader", "data.workers", "data.drop_last")}}


CHECKPOINT_INERT = {"model": "the checkpoint decides the network",
                    "data.augment": "the checkpoint predicts unaugmented images"}


@dataclass(frozen=True)
class PseudolabelConfig(PseudolabelStage, CommonConfig):
    """`imbsemi pseudolabel` config."""
    checkpoint: str | None = setting(None, "classifier that labels the pool: model.pt, pretrained:NAME or a file of "
                                           "any layout `imbsemi pretrained inspect` reads; required")

    def inert_keys(self) -> dict[str, str]:
        return {**super().inert_keys(), **CHECKPOINT_INERT}


@dataclass(frozen=True)
class EvaluateConfig(CommonConfig):
    """`imbsemi evaluate` config: a classifier checkpoint tested on the data's test split, no training."""
    checkpoint: str | None = setting(None, "classifier to test: model.pt, pretrained:NAME or a file of any layout "
                                           "`imbsemi pretrained inspect` reads; required")
    batch_size: int | None = setting(None, "images per prediction batch (null: 128 on a CPU, 512 on a GPU)",
                                     optional(at_least(1)))
    shot_thresholds: list[float] | None = shot_thresholds_setting()

    def inert_keys(self) -> dict[str, str]:
        return {**super().inert_keys(), **CHECKPOINT_INERT, "data.pool": "evaluation reads the test split only"}


@dataclass(frozen=True)
class PipelineConfig(CommonConfig):
    """`imbsemi pipeline` / `demo` config: every stage's section in one file and the variants to compare."""
    ssp: SSPStage = setting(factory=SSPStage)
    finetune: FinetuneStage = setting(factory=FinetuneStage)
    pseudolabel: PseudolabelStage = setting(factory=PseudolabelStage)
    semi: SemiStage = setting(factory=SemiStage)
    selftrain: FinetuneStage | None = setting(
        None, "stage 3 (self-training) settings: the keys given here override the finetune section, e.g. "
              "{optim: {batch_size: 256}} as the original train_semi.py (null: the finetune section)")
    sections: dict[str, Any] = setting(
        doc="more sections for variants: name -> {stage: a stage name, base: a section whose keys it starts "
            "from, ...its keys}, e.g. {ldam_drw: {stage: finetune, base: finetune, loss: {name: ldam}}}",
        factory=dict)
    variants: dict[str, Any] = setting(
        doc="the variants compared: name -> chain of sections, each run on the output of the one before "
            "(backbone -> init, model -> checkpoint, pseudo_labels -> pseudo_labels); stages that two variants "
            "share run once",
        factory=lambda: {"ce": ["finetune"], "ce+ssp": ["ssp", "finetune"],
                         "ce+pseudo": ["finetune", "pseudolabel", "selftrain"]})
    only: list[str] | None = setting(None, "run these of the variants only, e.g. [ce, fixmatch] (null: all); a "
                                           "list replaces, where an override of `variants` adds to the file's")
    shared_stages: str | None = setting(None, "folder for the stage runs, found there by config hash, so that "
                                              "pipelines sharing a stage's config run it once (null: inside the "
                                              "pipeline's run folder)")

    def inert_keys(self) -> dict[str, str]:
        return {**super().inert_keys(), "shared_stages": "where the stage runs are kept does not change them"}
