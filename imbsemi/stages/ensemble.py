"""finetune's ``mode: ensemble``: an estimator of the imbalanced-learning toolbox (imbalanced-ensemble,
imbalanced-learn, scikit-learn) fitted on the features of a trained network (SSP backbone or classifier),
the decoupled-classifier idea with the toolbox's resampling and ensemble remedies."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch

from imbsemi.accel import run_device
from imbsemi.checkpoints import load_backbone
from imbsemi.config import FinetuneConfig
from imbsemi.data.loader import eval_loader
from imbsemi.errors import ConfigError
from imbsemi.io import atomic_write
from imbsemi.metrics import classification_report
from imbsemi.ssl.knn import embed
from imbsemi.stages.build import Splits, make_model

# where estimator names are looked up, in order; imbalanced-ensemble and imbalanced-learn are the
# `ensemble` extra (pip install imbsemi[ensemble])
ESTIMATOR_MODULES = ("imbens.ensemble", "imblearn.ensemble", "sklearn.ensemble")


def estimator_class(name: str) -> type:
    """The estimator class ``name``: a class of ESTIMATOR_MODULES (the first that has it) or ``module.Class``.

    Raises:
        ConfigError: no such class; lists the classifiers the installed modules offer.
    """
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"ensemble.estimator = {name!r}: cannot import it ({err})") from err
    available: list[str] = []
    for module_name in ESTIMATOR_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if isinstance(getattr(module, name, None), type):
            return getattr(module, name)
        available += [f"{module_name}.{n}" for n in dir(module) if n.endswith("Classifier")]
    raise ConfigError(f"ensemble.estimator = {name!r}: not in {', '.join(ESTIMATOR_MODULES)} (imbalanced-ensemble and "
                      f"imbalanced-learn: pip install imbsemi[ensemble]); available: {', '.join(available)}")


def make_estimator(config: FinetuneConfig) -> Any:
    """``ensemble.estimator`` built with ``ensemble.kwargs``; ``random_state`` is the run's seed unless given."""
    cls = estimator_class(config.ensemble.estimator)
    kwargs = dict(config.ensemble.kwargs)
    if "random_state" in inspect.signature(cls).parameters:
        kwargs.setdefault("random_state", config.seed)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"ensemble.kwargs = {dict(config.ensemble.kwargs)}: {cls.__name__} refuses them: "
                          f"{err}") from err


def fit_ensemble(config: FinetuneConfig, splits: Splits, folder: Path) -> dict[str, Any]:
    """Fit the estimator on the L2-normalised features (those of the kNN monitor and t-SNE) of the labeled
    images under the ``init`` network; test it. Writes ``estimator.joblib``; returns the metrics."""
    if config.init is None:
        raise ConfigError("mode: ensemble needs init=PATH: a backbone.pt or model.pt whose features it fits on")
    if config.pseudo_labels is not None:
        raise ConfigError("mode: ensemble fits the labeled images only; drop pseudo_labels")
    estimator = make_estimator(config)
    model = make_model(config, splits, splits.num_classes)
    init_report = load_backbone(model, config.init, keep_head=False)
    device = run_device(config.trainer)
    model = model.to(device).eval()

    def features(arrays: Any) -> tuple[np.ndarray, np.ndarray]:
        values, labels = embed(model, eval_loader(arrays, splits.mean, splits.std, device))
        return values.cpu().numpy(), labels.cpu().numpy()

    def report(arrays: Any) -> dict[str, Any]:
        values, labels = features(arrays)
        predicted = torch.from_numpy(np.asarray(estimator.predict(values), dtype=np.int64))
        return classification_report(predicted, torch.from_numpy(labels), splits.counts, config.shot_thresholds)

    params = {k: repr(v) for k, v in estimator.get_params(deep=False).items()}  # as given: some fits rewrite them
    train_values, train_labels = features(splits.labeled)
    estimator.fit(train_values, train_labels)
    with atomic_write(folder / "estimator.joblib", "wb") as handle:
        joblib.dump(estimator, handle)
    return {"mode": "ensemble", "test": report(splits.test), "val": report(splits.val) if len(splits.val) else None,
            "estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
            "estimator_params": params,
            "init": {"path": config.init, "report": init_report}, "feature_dim": int(train_values.shape[1]),
            "train_size": len(train_labels), "labeled_counts": splits.counts}
