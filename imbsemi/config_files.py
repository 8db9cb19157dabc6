"""Configs from files: strict YAML loading (``base:`` inheritance, dotted overrides), the shipped
configs, keys without effect, the config hash and saving. The schemas are in :mod:`imbsemi.config`."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

from imbsemi.config import RESERVED_TRAINER_KEYS, CommonConfig, PipelineConfig
from imbsemi.dataclass_yaml import deep_merge, from_dict, parse_overrides, read_yaml_with_base, set_dotted
from imbsemi.errors import ConfigError
from imbsemi.io import atomic_write

T = TypeVar("T")


# ---------------------------------------------------------------- loading


def load_config(cls: type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Read ``path`` (YAML, optional ``base:`` chain), apply dotted overrides, build ``cls`` strictly.

    ``path`` may name a shipped config (see :func:`resolve_config_path`); None: defaults + overrides.

    Raises:
        ConfigError: a bad key or value, or an override of a key that has no effect on this command
            (one of the config's ``inert_keys``), e.g. ``data.pool.relevance`` on finetune without pseudo_labels.
    """
    pairs = parse_overrides(overrides)
    config = _build(cls, *_read_raw(path, pairs), pairs)
    inert = _inert_keys(config)
    for key in (leaf for pair in pairs for leaf in _leaf_keys(*pair)):
        owner = next((k for k in inert if key == k or key.startswith(k + ".")), None)
        if owner is not None:
            raise ConfigError(f"override {key} has no effect on this command: {inert[owner]}")
    return config


def _inert_keys(config: Any) -> dict[str, str]:
    """A stage config's ``inert_keys`` (a section alone, e.g. ``DataConfig``, has none)."""
    return config.inert_keys() if isinstance(config, CommonConfig) else {}


def _names(message: str, key: str) -> bool:
    """True when ``message`` names ``key`` or one of its parents (``data.pool`` of ``data.pool.rho_u``) as a key."""
    parts = key.split(".")
    return any(re.search(rf"(?<![\w.]){re.escape('.'.join(parts[:n]))}(?![\w])", message)
               for n in range(len(parts), 0, -1))


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


def load_any_config(path: str | Path | None, overrides: Sequence[str],
                    kinds: Mapping[str, type[CommonConfig]]) -> CommonConfig:
    """Load a config of any of the stage ``kinds`` (name -> schema), for tools that only read the shared
    keys (e.g. the data).

    The first of ``kinds`` whose keys include every top-level key and whose schema takes their values
    (stages share key names, e.g. ``method``) is built with :func:`load_config`'s rules; if none takes
    the values, the first candidate's error is raised.

    Raises:
        ConfigError: no stage kind takes all the top-level keys, or none takes their values.
    """
    pairs = parse_overrides(overrides)
    raw, origin = _read_raw(path, pairs)
    keys = {kind: {f.name for f in dataclasses.fields(cls)} for kind, cls in kinds.items()}
    first_error: ConfigError | None = None
    for kind, cls in kinds.items():
        if set(raw) <= keys[kind]:
            try:
                return _build(cls, raw, origin, pairs)
            except ConfigError as err:
                first_error = first_error or err
    if first_error is not None:
        raise first_error
    common = {f.name for f in dataclasses.fields(CommonConfig)}
    owners = {key: [kind for kind in kinds if key in keys[kind]] for key in raw if key not in common}
    blamed = ", ".join(f"{key} ({', '.join(kinds) or 'no stage'})" for key, kinds in owners.items())
    raise ConfigError(f"{origin}: no stage config takes all its top-level keys; {blamed}; a config is one of the "
                      f"stage kinds {', '.join(kinds)}")


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


def _build(cls: type[T], raw: Mapping[str, Any], origin: str, pairs: Sequence[tuple[str, Any]] = ()) -> T:
    """``cls`` from ``raw``; an error about a key given on the command line blames that override, not the file."""
    try:
        return _build_strictly(cls, raw, origin)
    except ConfigError as err:
        rest = str(err).removeprefix(f"{origin}: ")
        culprit = next((leaf for pair in pairs for leaf in _leaf_keys(*pair) if _names(rest, leaf)), None)
        if culprit is None:
            raise
        raise ConfigError(f"command-line override {culprit}: {rest}") from err


def _build_strictly(cls: type[T], raw: Mapping[str, Any], origin: str) -> T:
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
    """12-hex hash of everything that decides the results: the run name, folder, overwrite, logger and the
    ``inert_keys`` of the config are left out, so e.g. a base classifier's hash does not depend on
    the pool settings."""
    data = to_dict(config)
    for key in ("name", "out_dir", "overwrite", "logger", *_inert_keys(config)):
        _pop_dotted(data, key)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    with atomic_write(path, "w") as handle:
        yaml.safe_dump(to_dict(config), handle, sort_keys=False)
