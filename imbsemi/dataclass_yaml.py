"""Build frozen dataclasses strictly from YAML: ``base:`` inheritance, dotted ``key=value`` overrides,
and errors that name the key, the value and what is allowed (unknown key, wrong type, out of range)."""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, TypeVar

import yaml

from imbsemi.errors import ConfigError

T = TypeVar("T")


def parse_overrides(args: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse ``key=value``, ``--key=value`` and ``--key value`` into (dotted key, YAML value)."""
    pairs: list[tuple[str, Any]] = []
    items = list(args)
    while items:
        item = items.pop(0)
        stripped = item[2:] if item.startswith("--") else item
        if "=" in stripped:
            key, text = stripped.split("=", 1)
        elif item.startswith("--") and items:
            key, text = stripped, items.pop(0)
        else:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. data.rho=50")
        try:
            value = yaml.safe_load(text) if text != "" else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from err
        pairs.append((key, value))
    return pairs


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of keys, got {type(data).__name__}")
    return data


def read_yaml_with_base(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping in ``path`` merged over the file its ``base:`` key names (recursively)."""
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise ConfigError(f"config file {path}: base: chain loops ({chain})")
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"config file {path}: base = {base!r}: expected a path to a YAML file")
    parent = read_yaml_with_base(path.parent / base, (*seen, resolved))
    return _deep_merge(parent, data)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """raw[a][b][c] = value for key ``a.b.c``, creating the intermediate mappings."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def from_dict(cls: type[T], raw: Any, origin: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``raw``, rejecting unknown keys, wrong types and bad ranges."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: {where} = {raw!r}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{origin}: unknown key {prefix}{unknown[0]!s}; "
                          f"allowed keys at {where}: {', '.join(fields)}")
    missing = [name for name, f in fields.items() if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and name not in raw]
    if missing:
        raise ConfigError(f"{origin}: missing key {prefix}{missing[0]}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        values[name] = _convert(hints[name], value, origin, prefix + name)
        check = fields[name].metadata.get("check")
        if check is not None and not check[0](values[name]):
            raise ConfigError(f"{origin}: {prefix}{name} = {value!r}: {check[1]}")
    return cls(**values)


def _convert(hint: Any, value: Any, origin: str, key: str) -> Any:
    """Return ``value`` as type ``hint`` or raise ConfigError naming ``key``."""
    origin_type = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, str) and hasattr(hint, "SHORTHAND"):
            value = {hint.SHORTHAND: value}
        return from_dict(hint, {} if value is None else value, origin, key + ".")
    if origin_type in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        concrete = [o for o in options if o is not type(None)]
        if len(concrete) == 1:  # Optional[X]: X's own error is the informative one
            return _convert(concrete[0], value, origin, key)
        for option in concrete:
            try:
                return _convert(option, value, origin, key)
            except ConfigError:
                continue
        return _type_error(hint, value, origin, key)
    if origin_type is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{origin}: {key} = {value!r}: expected one of {', '.join(map(str, allowed))}")
        return value
    if origin_type is list:
        if not isinstance(value, list):
            _type_error(hint, value, origin, key)
        return [_convert(typing.get_args(hint)[0], item, origin, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin_type is dict or hint is dict:
        if not isinstance(value, dict):
            _type_error(hint, value, origin, key)
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    return _type_error(hint, value, origin, key)


def _type_error(hint: Any, value: Any, origin: str, key: str) -> Any:
    expected = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
    raise ConfigError(f"{origin}: {key} = {value!r} ({type(value).__name__}): expected {expected}")
