"""Config schemas per CLI, loaded strictly from YAML (``base:`` inheritance, dotted overrides), and a hash.

Every section is a frozen dataclass: the dataclass is the schema. Range checks live in each
field's metadata (``check``), so the loader reports ``data.rho = 0.5: must be >= 1`` with the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, TypeVar

import yaml

from imbsemi.dataclass_yaml import from_dict, parse_overrides, read_yaml_with_base, set_dotted
from imbsemi.errors import ConfigError
from imbsemi.io import atomic_write

T = TypeVar("T")

# Trainer arguments the CLIs set themselves; users set `epochs` or the run folder instead.
RESERVED_TRAINER_KEYS = ("max_epochs", "logger", "callbacks", "default_root_dir", "enable_checkpointing")


def _check(rule: Callable[[Any], bool], expected: str) -> dict[str, Any]:
    return {"check": (rule, expected)}


def at_least(low: float) -> dict[str, Any]:
    return _check(lambda v: v >= low, f"must be >= {low:g}")


def greater_than(low: float) -> dict[str, Any]:
    return _check(lambda v: v > low, f"must be > {low:g}")


def between(low: float, high: float) -> dict[str, Any]:
    return _check(lambda v: low <= v <= high, f"must be in [{low:g}, {high:g}]")


def open_interval(low: float, high: float) -> dict[str, Any]:
    return _check(lambda v: low < v < high, f"must be in ({low:g}, {high:g})")


def optional(meta: dict[str, Any]) -> dict[str, Any]:
    rule, expected = meta["check"]
    return _check(lambda v: v is None or rule(v), f"{expected} (or null)")


@dataclass(frozen=True)
class SourceRef:
    """A split of a registered source; ``root`` defaults to ``data.root``. A plain string is the name."""
    SHORTHAND = "name"
    name: str
    split: str = "train"
    root: str | None = None


@dataclass(frozen=True)
class PoolConfig:
    """Unlabeled pool: |pool| = size_factor x |labeled|, per-class counts following rho_u (chosen by
    reference labels), a share ``relevance`` from ``relevant`` (default: the training images the
    labeled set left) and the rest drawn uniformly from ``irrelevant``."""
    size_factor: float = field(default=5.0, metadata=greater_than(0))
    rho_u: float = field(default=1.0, metadata=at_least(1))
    relevance: float = field(default=1.0, metadata=between(0, 1))
    relevant: SourceRef | None = None
    irrelevant: SourceRef | None = None
    allow_shortage: bool = False


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation of classifier and rotation batches."""
    crop_padding: int = field(default=4, metadata=at_least(0))
    flip: bool = True


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how the long-tailed labeled set, validation split and pool are drawn.

    ``n_max`` defaults to the source's (training images / classes; 1,000 for SVHN), as the paper.
    ``val_per_class`` images per class are held out first for model selection (0: none, the last
    epoch is kept). ``download`` fetches missing CIFAR/SVHN files; ``verify`` checks their md5;
    ``image_size`` is the side folder images are resized to. ``loader: device`` keeps
    images on the training device and augments whole batches; ``loader: torch`` is the classic
    Dataset + DataLoader path with PIL transforms in ``workers`` processes."""
    source: str = "digits"
    root: str = "data"
    imb_type: Literal["exp", "step", "uniform"] = "exp"
    rho: float = field(default=10.0, metadata=at_least(1))
    n_max: int | None = field(default=None, metadata=optional(at_least(1)))
    val_per_class: int = field(default=10, metadata=at_least(0))
    download: bool = False
    verify: bool = True
    image_size: int = field(default=32, metadata=at_least(1))
    loader: Literal["device", "torch"] = "device"
    workers: int = field(default=4, metadata=at_least(0))
    pool: PoolConfig = field(default_factory=PoolConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class ModelConfig:
    """Backbone architecture (a MODELS name), its extra keyword arguments, and whether to
    torch.compile its forward on CUDA (ignored on CPU)."""
    arch: str = "resnet32"
    kwargs: dict[str, Any] = field(default_factory=dict)
    compile: bool = False


@dataclass(frozen=True)
class OptimConfig:
    """SGD with linear warm-up, then ``schedule``: ``step`` (the original: x0.01 at 80% and x1e-4 at
    90% of the epochs) or ``cosine`` (to 0)."""
    lr: float = field(default=0.1, metadata=greater_than(0))
    momentum: float = field(default=0.9, metadata=between(0, 1))
    weight_decay: float = field(default=2e-4, metadata=at_least(0))
    batch_size: int = field(default=128, metadata=at_least(1))
    warmup_epochs: int = field(default=5, metadata=at_least(0))
    schedule: Literal["step", "cosine"] = "step"


@dataclass(frozen=True)
class LossConfig:
    """A LOSSES name and its hyper-parameters."""
    name: str = "ce"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleConfig:
    """Train rule: ``none``; ``reweight`` (class weights throughout); ``drw`` (class weights from
    epoch ``drw_epoch``, default ``drw_fraction`` of the epochs); ``resample`` (exact class-balanced
    sampling); ``resample_effective`` (the original's effective-number sampler). ``weights``: the
    class weights of reweight / drw, effective-number (``beta``) or inverse-frequency."""
    name: Literal["none", "reweight", "resample", "resample_effective", "drw"] = "none"
    weights: Literal["effective_number", "inverse_frequency"] = "effective_number"
    beta: float = field(default=0.9999, metadata=open_interval(0, 1))
    drw_epoch: int | None = field(default=None, metadata=optional(at_least(0)))
    drw_fraction: float = field(default=0.8, metadata=between(0, 1))


@dataclass(frozen=True)
class CommonConfig:
    """Keys every CLI shares."""
    seed: int = 0
    name: str | None = None
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodConfig:
    """An SSL_METHODS name and its hyper-parameters; a plain string is the name."""
    SHORTHAND = "name"
    name: str = "rotation"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SSPStage:
    """Stage 1: self-supervised pre-training."""
    method: MethodConfig = field(default_factory=MethodConfig)
    epochs: int = field(default=200, metadata=greater_than(0))
    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass(frozen=True)
class SelfTrainingConfig:
    """Stage 3 with ``pseudo_labels``: pool images with confidence >= ``threshold`` join the labeled
    set under their pseudo-labels, their loss weighted by ``omega`` (the paper: 1, no threshold).
    ``unlabeled_share``: expected share of pool images per batch (null: the natural proportion of
    the concatenated sets, as the paper). ``soft``: train on the stored softmax instead of the
    argmax (needs a file made with ``save_probabilities``)."""
    omega: float = field(default=1.0, metadata=at_least(0))
    threshold: float = field(default=0.0, metadata=between(0, 1))
    unlabeled_share: float | None = field(default=None, metadata=optional(_check(lambda v: 0 < v < 1,
                                                                                  "must be in (0, 1)")))
    soft: bool = False


@dataclass(frozen=True)
class FinetuneStage:
    """Stages 2 and 3: classifier training, on labeled (+ pseudo-labeled) images.

    ``mode``: ``train`` (the whole network), ``crt`` (classifier re-training: frozen backbone with
    frozen BatchNorm statistics, a new head, class-balanced sampling), ``tau_norm`` (no training:
    rescale the head of the ``init`` classifier by tau; ``tau: null`` picks it on the validation
    split from 0, 0.1, ..., 2). ``posthoc_tau`` > 0 evaluates with post-hoc logit adjustment.
    ``shot_thresholds``: a class is many-shot above the first and few-shot below the second count of
    training images (null: 100 / 20, or thirds of the log-count range when no class has over 100)."""
    loss: LossConfig = field(default_factory=LossConfig)
    rule: RuleConfig = field(default_factory=RuleConfig)
    self_training: SelfTrainingConfig = field(default_factory=SelfTrainingConfig)
    epochs: int = field(default=200, metadata=greater_than(0))
    optim: OptimConfig = field(default_factory=OptimConfig)
    mode: Literal["train", "crt", "tau_norm"] = "train"
    tau: float | None = field(default=1.0, metadata=optional(at_least(0)))
    posthoc_tau: float = field(default=0.0, metadata=at_least(0))
    shot_thresholds: list[float] | None = field(default=None, metadata=_check(
        lambda v: v is None or (len(v) == 2 and v[0] >= v[1] >= 0),
        "must be [many_above, few_below] with many_above >= few_below >= 0 (or null: automatic)"))


@dataclass(frozen=True)
class PseudolabelStage:
    """Prediction of the unlabeled pool; ``save_probabilities`` keeps the full softmax (soft targets)."""
    batch_size: int = field(default=512, metadata=at_least(1))
    save_probabilities: bool = False


@dataclass(frozen=True)
class SSPConfig(SSPStage, CommonConfig):
    """`ssp_pretrain` config."""


@dataclass(frozen=True)
class FinetuneConfig(FinetuneStage, CommonConfig):
    """`finetune` config: ``init`` is an SSP/backbone checkpoint, ``pseudo_labels`` a PseudoLabels file."""
    init: str | None = None
    pseudo_labels: str | None = None


@dataclass(frozen=True)
class PseudolabelConfig(PseudolabelStage, CommonConfig):
    """`imbsemi pseudolabel` config: ``checkpoint`` is an exported classifier (model.pt)."""
    checkpoint: str | None = None


@dataclass(frozen=True)
class PipelineConfig(CommonConfig):
    """`imbsemi pipeline` / `demo` config: every stage's section in one file. ``rounds`` > 1 re-labels
    the pool with each round's self-trained model and self-trains again."""
    ssp: SSPStage = field(default_factory=SSPStage)
    finetune: FinetuneStage = field(default_factory=FinetuneStage)
    pseudolabel: PseudolabelStage = field(default_factory=PseudolabelStage)
    rounds: int = field(default=1, metadata=at_least(1))


# ---------------------------------------------------------------- loading


def load_config(cls: type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Read ``path`` (YAML, optional ``base:`` chain), apply dotted overrides, build ``cls`` strictly."""
    raw: dict[str, Any] = read_yaml_with_base(Path(path)) if path is not None else {}
    for key, value in parse_overrides(overrides):
        set_dotted(raw, key, value)
    origin = str(path) if path is not None else "command line"
    config = from_dict(cls, raw, origin)
    if isinstance(config, CommonConfig):
        _check_trainer(config.trainer, origin)
    return config


def _check_trainer(trainer: Mapping[str, Any], origin: str) -> None:
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
    """12-hex hash of everything that decides the results (the run name and folder excluded)."""
    data = to_dict(config)
    data.pop("name", None)
    data.pop("out_dir", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    with atomic_write(path, "w") as handle:
        yaml.safe_dump(to_dict(config), handle, sort_keys=False)
