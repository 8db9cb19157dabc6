"""Config schemas per CLI, loaded strictly from YAML (``base:`` inheritance, dotted overrides), and a hash.

Every section is a frozen dataclass: the dataclass is the schema. Each field is a ``setting`` with a
one-line ``doc`` (the key reference of ``--help``, see ``describe_schema``) and an optional range
``check``, so the loader reports ``data.rho = 0.5: must be >= 1`` with the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TypeVar

import yaml

from imbsemi.dataclass_yaml import (at_least, between, deep_merge, from_dict, greater_than, open_interval, optional,
                                    parse_overrides, read_yaml_with_base, set_dotted, setting)
from imbsemi.errors import ConfigError
from imbsemi.io import atomic_write

T = TypeVar("T")

# Trainer arguments the CLIs set themselves; users set `epochs` or the run folder instead.
RESERVED_TRAINER_KEYS = ("max_epochs", "logger", "callbacks", "default_root_dir", "enable_checkpointing")

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
                           at_least(1))
    relevance: float = setting(1.0, "share of the pool drawn from `relevant`; the rest uniformly from `irrelevant`",
                               between(0, 1))
    relevant: SourceRef | None = setting(
        None, "source of the relevant images (null: the training images not in the labeled or validation set)")
    irrelevant: SourceRef | None = setting(None, "source of the irrelevant images (needed when relevance < 1)")
    allow_shortage: bool = setting(False, "a class with too few images gives all it has, with a warning, "
                                          "instead of an error")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation of classifier and rotation batches."""
    crop_padding: int = setting(4, "random crop after zero padding by this many pixels per side (0: no crop)",
                                at_least(0))
    flip: bool = setting(True, "random horizontal flip with probability 0.5")


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how the long-tailed labeled set, validation split and pool are drawn."""
    source: str = setting("digits", "registered data source of the labeled set and the default pool")
    root: str = setting("data", "folder the data files are read from (and downloaded to)")
    imb_type: Literal["exp", "step", "uniform"] = setting(
        "exp", "class counts: exponential decay, half n_max / half n_max / rho, or n_max for every class")
    rho: float = setting(10.0, "imbalance ratio n_max / n_min of the labeled set", at_least(1))
    n_max: int | None = setting(None, "labeled images of the head class (null: the source's, else training "
                                      "images / classes, as the paper)", optional(at_least(1)))
    val_per_class: int = setting(10, "images per class held out first for model selection (0: none, the "
                                     "last epoch is kept)", at_least(0))
    download: bool = setting(False, "fetch missing CIFAR/SVHN files")
    verify: bool = setting(True, "check the md5 of CIFAR/SVHN files")
    image_size: int = setting(32, "side in pixels that folder images are resized to", at_least(1))
    loader: Literal["device", "torch"] = setting(
        "device", "device: images stay on the training device, whole batches augmented; torch: Dataset + "
                  "DataLoader with PIL transforms")
    workers: int = setting(4, "DataLoader worker processes of loader: torch", at_least(0))
    drop_last: bool = setting(False, "leave each epoch's last partial batch out (fixed batch shapes); default: "
                                     "every image every epoch, as the original")
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
    name: Literal["none", "reweight", "resample", "resample_effective", "drw"] = setting(
        "none", "reweight: class weights throughout; drw: class weights from drw_epoch; resample: exact "
                "class-balanced sampling; resample_effective: the original's effective-number sampler")
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
    seed: int = setting(0, "random seed of the data draws, initialisation and training")
    name: str | None = setting(None, "run folder name under out_dir/<stage>/ (null: <config file name>-<hash>)")
    out_dir: str = setting("runs", "folder of the runs: out_dir/<stage>/<name>")
    data: DataConfig = setting(factory=DataConfig)
    model: ModelConfig = setting(factory=ModelConfig)
    trainer: dict[str, Any] = setting(doc="more pytorch_lightning.Trainer arguments, e.g. accelerator: cpu",
                                      factory=dict)
    logger: LoggerConfig = setting(factory=LoggerConfig)


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


@dataclass(frozen=True)
class FinetuneStage:
    """Stages 2 and 3: classifier training on labeled (and pseudo-labeled) images."""
    loss: LossConfig = setting(factory=LossConfig)
    rule: RuleConfig = setting(factory=RuleConfig)
    self_training: SelfTrainingConfig = setting(factory=SelfTrainingConfig)
    epochs: int = setting(200, "training epochs", greater_than(0))
    optim: OptimConfig = setting(factory=OptimConfig)
    mode: Literal["train", "crt", "tau_norm"] = setting(
        "train", "train: the whole network; crt: a new head on the frozen backbone (BatchNorm statistics too), "
                 "class-balanced; tau_norm: no training, the init classifier's head rescaled by tau")
    tau: float | None = setting(1.0, "tau of tau_norm (null: picked on the validation split from 0, 0.1, ..., 2)",
                                optional(at_least(0)))
    posthoc_tau: float = setting(0.0, "> 0: evaluate with post-hoc logit adjustment by this tau", at_least(0))
    selection: Literal["last_decay", "best", "last"] = setting(
        "last_decay", "exported epoch with a validation split: last_decay = best validation balanced accuracy "
                      "from the last LR decay (the last tenth of the run) on; best = of all epochs; last = the last")
    test_curve: bool = setting(True, "log test metrics after every epoch (test/...; a diagnostic, never selects)")
    shot_thresholds: list[float] | None = setting(
        None, "[many, few]: many-shot classes have over `many` training images, few-shot under `few` (null: "
              "100 / 20, or log-count thirds when no class has over 100)",
        (lambda v: v is None or (len(v) == 2 and v[0] >= v[1] >= 0),
         "must be [many_above, few_below] with many_above >= few_below >= 0 (or null: automatic)"))


@dataclass(frozen=True)
class PseudolabelStage:
    """Prediction of the unlabeled pool."""
    batch_size: int = setting(512, "images per prediction batch", at_least(1))
    save_probabilities: bool = setting(False, "also store the full softmax (soft targets for self_training.soft)")


@dataclass(frozen=True)
class SSPConfig(SSPStage, CommonConfig):
    """`ssp_pretrain` config."""


@dataclass(frozen=True)
class FinetuneConfig(FinetuneStage, CommonConfig):
    """`finetune` config."""
    init: str | None = setting(None, "checkpoint to start from: an SSP backbone.pt, or the model.pt of crt and "
                                     "tau_norm (null: random initialisation)")
    pseudo_labels: str | None = setting(None, "pseudo_labels.npz of `imbsemi pseudolabel` to self-train with "
                                              "(null: labeled images only)")


@dataclass(frozen=True)
class PseudolabelConfig(PseudolabelStage, CommonConfig):
    """`imbsemi pseudolabel` config."""
    checkpoint: str | None = setting(None, "exported classifier (model.pt) that labels the pool; required")


@dataclass(frozen=True)
class PipelineConfig(CommonConfig):
    """`imbsemi pipeline` / `demo` config: every stage's section in one file."""
    ssp: SSPStage = setting(factory=SSPStage)
    finetune: FinetuneStage = setting(factory=FinetuneStage)
    pseudolabel: PseudolabelStage = setting(factory=PseudolabelStage)
    selftrain: FinetuneStage | None = setting(
        None, "stage 3 (self-training) settings: the keys given here override the finetune section, e.g. "
              "{optim: {batch_size: 256}} as the original train_semi.py (null: the finetune section)")
    rounds: int = setting(1, "self-training rounds; each after the first re-labels the pool with the last "
                             "round's model", at_least(1))


# The stage kinds a config file can be, in the order load_any_config tries them.
STAGE_CONFIGS: dict[str, type[CommonConfig]] = {
    "finetune": FinetuneConfig, "ssp": SSPConfig, "pseudolabel": PseudolabelConfig, "pipeline": PipelineConfig}


# ---------------------------------------------------------------- loading


def load_config(cls: type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Read ``path`` (YAML, optional ``base:`` chain), apply dotted overrides, build ``cls`` strictly.

    ``path`` may name a shipped config (see :func:`resolve_config_path`); None: defaults + overrides.

    Raises:
        ConfigError: a bad key or value, or an override of a key that has no effect on this command
            (one of :func:`inert_keys`), e.g. ``data.pool.relevance`` on finetune without pseudo_labels.
    """
    pairs = parse_overrides(overrides)
    config = _build(cls, *_read_raw(path, pairs))
    inert = inert_keys(config)
    for key in (leaf for pair in pairs for leaf in _leaf_keys(*pair)):
        owner = next((k for k in inert if key == k or key.startswith(k + ".")), None)
        if owner is not None:
            raise ConfigError(f"override {key} has no effect on this command: {inert[owner]}")
    return config


def inert_keys(config: Any) -> dict[str, str]:
    """The dotted keys that cannot change what ``config``'s command computes, each with the reason.

    They are left out of :func:`config_hash` (a base classifier is the same run whatever the pool
    settings) and overriding one on the command line is an error rather than a silent no-op."""
    reasons: dict[str, str] = {}
    if isinstance(config, SSPConfig):
        reasons["data.pool"] = "self-supervised pre-training reads the labeled images only, never the pool"
    if isinstance(config, FinetuneConfig):
        if config.pseudo_labels is None:
            for key in ("data.pool", "self_training"):
                reasons[key] = "without pseudo_labels finetune trains on the labeled images only"
        if config.mode != "tau_norm":
            reasons["tau"] = f"only mode: tau_norm reads tau (mode is {config.mode})"
    if isinstance(config, PseudolabelConfig):
        reasons["model"] = "the checkpoint decides the network"
        reasons["data.augment"] = "pseudo-labelling predicts unaugmented images"
    return reasons


def _leaf_keys(key: str, value: Any) -> list[str]:
    """The dotted keys an override sets: ``key``, or each leaf of a mapping value under it."""
    if isinstance(value, Mapping) and value:
        return [leaf for sub, item in value.items() for leaf in _leaf_keys(f"{key}.{sub}", item)]
    return [key]


def _pop_dotted(data: dict[str, Any], key: str) -> None:
    """Remove ``data[a][b]`` for ``key`` ``a.b`` when present."""
    *parents, last = key.split(".")
    for part in parents:
        data = data.get(part) if isinstance(data, dict) else None
    if isinstance(data, dict):
        data.pop(last, None)


def load_any_config(path: str | Path | None, overrides: Sequence[str] = ()) -> CommonConfig:
    """Load a config of any stage kind, for tools that only read the shared keys (e.g. the data).

    The first of FinetuneConfig, SSPConfig, PseudolabelConfig, PipelineConfig whose keys include every
    top-level key is built with :func:`load_config`'s rules and errors.

    Raises:
        ConfigError: no stage kind takes all the top-level keys.
    """
    raw, origin = _read_raw(path, parse_overrides(overrides))
    keys = {kind: {f.name for f in dataclasses.fields(cls)} for kind, cls in STAGE_CONFIGS.items()}
    for kind, cls in STAGE_CONFIGS.items():
        if set(raw) <= keys[kind]:
            return _build(cls, raw, origin)
    common = {f.name for f in dataclasses.fields(CommonConfig)}
    owners = {key: [kind for kind in STAGE_CONFIGS if key in keys[kind]] for key in raw if key not in common}
    blamed = ", ".join(f"{key} ({', '.join(kinds) or 'no stage'})" for key, kinds in owners.items())
    raise ConfigError(f"{origin}: no stage config takes all its top-level keys; {blamed}; a config is one of the "
                      f"stage kinds {', '.join(STAGE_CONFIGS)}")


def _read_raw(path: str | Path | None, overrides: Sequence[tuple[str, Any]]) -> tuple[dict[str, Any], str]:
    """The YAML mapping of ``path`` (``base:`` chain merged) with the overrides set, and its origin."""
    if path is None:
        raw: dict[str, Any] = {}
        origin = "command line"
    else:
        resolved = resolve_config_path(path)
        raw, origin = read_yaml_with_base(resolved), str(resolved)
    for key, value in overrides:
        set_dotted(raw, key, value)
    return raw, origin


def _build(cls: type[T], raw: Mapping[str, Any], origin: str) -> T:
    if cls is PipelineConfig and isinstance(raw.get("selftrain"), Mapping):  # overrides over the finetune section
        raw = {**raw, "selftrain": deep_merge(dict(raw.get("finetune") or {}), raw["selftrain"])}
    config = from_dict(cls, raw, origin)
    if isinstance(config, CommonConfig):
        _check_trainer(config.trainer, origin)
    return config


def shipped_configs_dir() -> Path:
    """The configs folder installed with the package (the top-level configs/ in an editable install)."""
    return Path(str(resources.files("imbsemi") / "configs"))


def shipped_configs() -> list[str]:
    """The shipped config names, e.g. ``ssp/rotation_digits.yaml``, sorted."""
    folder = shipped_configs_dir()
    return sorted(p.relative_to(folder).as_posix() for pattern in ("*.yaml", "*/*.yaml") for p in folder.glob(pattern))


def resolve_config_path(name: str | Path) -> Path:
    """``name`` if that file exists (relative to the current folder or absolute), else the shipped config
    of that name, e.g. ``ssp/rotation_digits.yaml``.

    Raises:
        ConfigError: neither exists; the message lists the shipped configs.
    """
    path = Path(name)
    if path.is_file():
        return path
    folder = shipped_configs_dir()
    if not path.is_absolute() and (folder / path).is_file():
        return folder / path
    raise ConfigError(f"config file {name} does not exist (looked in the current folder and in the shipped "
                      f"configs: {folder}); shipped configs: {', '.join(shipped_configs())}")


def _check_trainer(trainer: Mapping[str, Any], origin: str) -> None:
    if not trainer:  # nothing to check: spares data-only tools the slow Lightning import
        return
    import pytorch_lightning as pl

    from imbsemi.registry import accepted_kwargs

    allowed = [k for k in accepted_kwargs(pl.Trainer.__init__) if k != "self"]
    for key in trainer:
        if key in RESERVED_TRAINER_KEYS:
            raise ConfigError(f"{origin}: trainer.{key} is set by imbsemi; use `epochs` and `out_dir` instead")
        if key not in allowed:
            raise ConfigError(f"{origin}: unknown key trainer.{key}; allowed: pytorch_lightning.Trainer "
                              f"arguments ({', '.join(a for a in allowed if a not in RESERVED_TRAINER_KEYS)})")


# ---------------------------------------------------------------- saving


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config."""
    return dataclasses.asdict(config)


def config_hash(config: Any) -> str:
    """12-hex hash of everything that decides the results: the run name, folder, logger and the
    ``inert_keys`` of the config are left out, so e.g. a base classifier's hash does not depend on
    the pool settings."""
    data = to_dict(config)
    for key in ("name", "out_dir", "logger", *inert_keys(config)):
        _pop_dotted(data, key)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    with atomic_write(path, "w") as handle:
        yaml.safe_dump(to_dict(config), handle, sort_keys=False)
