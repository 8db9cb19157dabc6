"""Build frozen dataclasses strictly from YAML: ``base:`` inheritance, dotted ``key=value`` overrides,
and errors that name the key, the value and what is allowed (unknown key, wrong type, out of range).

Fields declared with :func:`setting` carry a one-line ``doc`` and an optional range ``check`` in their
metadata; :func:`describe_schema` prints both as the key reference of a CLI's ``--help``."""
from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, TypeVar

import yaml

from imbsemi.errors import ConfigError

T = TypeVar("T")
Check = tuple[Callable[[Any], bool], str]  # (rule, what the value must be), e.g. "must be >= 1"


# ---------------------------------------------------------------- schema fields


def setting(default: Any = dataclasses.MISSING, doc: str = "", check: Check | None = None, *,
            factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with a one-line ``doc`` and an optional range ``check``.

    Args:
        default: the default value; omitted (with no ``factory``) the key is required.
        doc: what the key means; for a nested section built by ``factory`` it defaults to the
            section class's first docstring line, so the meaning is written once.
        check: (rule, expected) from :func:`at_least` and friends, applied by :func:`from_dict`.
        factory: builds the default (a section class or ``dict``) instead of ``default``.
    """
    if not doc and dataclasses.is_dataclass(factory):
        doc = first_doc_line(factory)
    if not doc:
        raise TypeError("setting() needs a doc: the one-line meaning shown in --help")
    metadata = {"doc": doc, "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def first_doc_line(cls: type) -> str:
    """The first line of ``cls``'s own docstring ("" without one)."""
    doc = cls.__dict__.get("__doc__")  # not inherited, and not the signature dataclass() makes up
    return inspect.cleandoc(doc).splitlines()[0] if doc and not doc.startswith(cls.__name__ + "(") else ""


def at_least(low: float) -> Check:
    """Check: value >= low."""
    return (lambda v: v >= low, f"must be >= {low:g}")


def finite_at_least(low: float) -> Check:
    """Check: a finite value >= low (not .inf)."""
    return (lambda v: math.isfinite(v) and v >= low, f"must be a finite number >= {low:g}")


def greater_than(low: float) -> Check:
    """Check: value > low."""
    return (lambda v: v > low, f"must be > {low:g}")


def between(low: float, high: float) -> Check:
    """Check: low <= value <= high."""
    return (lambda v: low <= v <= high, f"must be in [{low:g}, {high:g}]")


def open_interval(low: float, high: float) -> Check:
    """Check: low < value < high."""
    return (lambda v: low < v < high, f"must be in ({low:g}, {high:g})")


def optional(check: Check) -> Check:
    """``check``, or null."""
    rule, expected = check
    return (lambda v: v is None or rule(v), f"{expected} (or null)")


# ---------------------------------------------------------------- reading


def parse_overrides(args: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse ``key=value``, ``--key=value`` and ``--key value`` into (dotted key, YAML value).

    Values are YAML (``null``, ``true``, ``[1, 2]``, ``{a: 1}``); Python's ``None`` and a dict's repr
    (``{'a': None}``), the forms a wandb agent passes, read as null and a mapping."""
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
            value = _python_none(yaml.safe_load(text)) if text != "" else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from err
        pairs.append((key, value))
    return pairs


def _python_none(value: Any) -> Any:
    """``value`` with every string ``"None"`` (Python's repr of null) replaced by None."""
    if value == "None":
        return None
    if isinstance(value, dict):
        return {key: _python_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_python_none(item) for item in value]
    return value


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
    return deep_merge(parent, data)


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s keys set over it, mappings merged key by key (recursively)."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """raw[a][b][c] = value for key ``a.b.c``, creating the intermediate mappings; a mapping ``value``
    is merged key by key into a mapping already there (an override changes only the keys it names)."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    current = node.get(parts[-1])
    if isinstance(value, Mapping) and isinstance(current, Mapping):
        value = deep_merge(dict(current), value)
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
        check = fields[name].metadata.get("check")  # (rule, expected) or None
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


# ---------------------------------------------------------------- --help text


_COLUMN_CAPS = (80, 28, 16)  # widest key, type and default that set their column's width


def describe_schema(cls: type, prefix: str = "") -> list[str]:
    """One aligned line per leaf key of config dataclass ``cls``: dotted key, type, default, doc.

    A nested section gets a header line (``data:`` and its class's first docstring line) and its keys
    below; an optional section (default null) is a line of its own, followed by its keys.
    """
    rows = _schema_rows(cls, prefix)
    # A long type or default (rule.name's options) overflows its column instead of widening it for all.
    widths = [max((len(row[i]) for row in rows if len(row) == 4 and len(row[i]) <= cap), default=0)
              for i, cap in enumerate(_COLUMN_CAPS)]
    lines = []
    for row in rows:
        if len(row) == 2:  # section header
            lines.append(f"{row[0]}: {row[1]}".rstrip())
        else:
            lines.append("  " + "  ".join(text.ljust(width) for text, width in zip(row[:3], widths)) + "  " + row[3])
    return lines


def _schema_rows(cls: type, prefix: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, hint = prefix + f.name, hints[f.name]
        if dataclasses.is_dataclass(hint):  # a section: its keys, not a default
            rows.append((key, f.metadata.get("doc") or first_doc_line(hint)))
            rows.extend(_schema_rows(hint, key + "."))
            continue
        rows.append((key, _type_text(hint), _default_text(f), f.metadata.get("doc", "")))
        section = _optional_section(hint)
        if section is not None:
            rows.extend(_schema_rows(section, key + "."))
    return rows


def _optional_section(hint: Any) -> type | None:
    """The dataclass X of ``X | None``, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
    return None


def _type_text(hint: Any) -> str:
    """``float``, ``int | null``, ``one of exp, step``, ``list[float]``, ``mapping``, ``section | str``."""
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "null"
    if dataclasses.is_dataclass(hint):
        return "section | str" if hasattr(hint, "SHORTHAND") else "section"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    if origin is dict or hint is dict:
        return "mapping"
    if origin is list:
        return f"list[{_type_text(typing.get_args(hint)[0])}]"
    return getattr(hint, "__name__", str(hint))


def _default_text(f: dataclasses.Field) -> str:
    """The default as it would be written in YAML; ``required`` without one."""
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    elif f.default is not dataclasses.MISSING:
        value = f.default
    else:
        return "required"
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False)
    return text.removesuffix("...\n").strip()  # scalars end with a document-end marker
