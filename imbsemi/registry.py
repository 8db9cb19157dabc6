"""Build objects by name from plain-dict registries, checking kwargs against the signature."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from imbsemi.errors import ConfigError


def accepted_kwargs(target: Callable[..., Any]) -> list[str]:
    """Keyword names ``target`` accepts (positional-only and *args/**kwargs excluded)."""
    params = inspect.signature(target).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def lookup(table: Mapping[str, Callable[..., Any]], name: str, where: str) -> Callable[..., Any]:
    """Return ``table[name]`` or raise ConfigError listing the registered names."""
    if name not in table:
        raise ConfigError(f"{where}: unknown name {name!r}; registered: {', '.join(sorted(table))}")
    return table[name]


def build(table: Mapping[str, Callable[..., Any]], name: str, kwargs: Mapping[str, Any],
          where: str, **fixed: Any) -> Any:
    """Call ``table[name](**fixed, **kwargs)`` after checking every user kwarg is accepted.

    Args:
        table: registry mapping names to classes or factory functions.
        name: the registered name the user chose.
        kwargs: user-given keyword arguments (from a config).
        where: dotted config key, used in error messages.
        **fixed: arguments the program supplies (e.g. ``num_classes``); users may not set them.
    """
    target = lookup(table, name, where)
    allowed = [k for k in accepted_kwargs(target) if k not in fixed]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: {name!r} does not accept {', '.join(unknown)}; "
                          f"allowed: {', '.join(allowed) or '(none)'}")
    try:
        return target(**fixed, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: cannot build {name!r} with {dict(kwargs)}: {err}") from err
