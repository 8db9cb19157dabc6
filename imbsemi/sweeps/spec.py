"""Sweep files in wandb's schema (``program``, ``method``, ``metric``, ``parameters``, ``command``) -> the
runs they stand for, with the exact flags a wandb agent would pass; no torch import.

The command must be ``imbsemi <subcommand> [--config FILE] [key=value ...] ${args}`` (``${env}``
first is fine): a wandb agent runs it unchanged, and ``imbsemi sweep FILE`` runs the same points
locally (grid: every combination in file order; random: ``count`` draws from a seeded generator).
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from imbsemi.errors import ConfigError

LOCAL_METHODS = ("grid", "random")
KNOWN_KEYS = {"program", "method", "metric", "parameters", "command", "name", "description", "project", "entity",
              "run_cap", "early_terminate"}
MACROS = {"${env}", "${interpreter}", "${program}"}
ARGS_MACROS = {"${args}": "--", "${args_no_hyphens}": ""}  # -> flag prefix
RANGE_DISTRIBUTIONS = ("uniform", "int_uniform", "log_uniform_values", "q_uniform")


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: its parameter values and the flags a wandb agent would pass for them."""
    values: dict[str, Any]
    flags: list[str]
    label: str  # the swept values (parameters with more than one value), e.g. relevance=0.6-seed=1


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file."""
    path: Path
    method: str
    subcommand: str
    config: str | None  # the command's --config
    fixed: list[str]  # the command's own overrides
    flag_prefix: str
    parameters: dict[str, dict[str, Any]]
    metric: dict[str, Any] | None
    run_cap: int | None

    @property
    def name(self) -> str:
        return self.path.stem

    def swept(self) -> list[str]:
        """Parameters that take more than one value."""
        return [name for name, spec in self.parameters.items() if "min" in spec or len(spec.get("values", ())) > 1]

    def points(self, count: int | None = None, seed: int = 0) -> list[SweepPoint]:
        """Every point of a grid sweep (the first ``run_cap`` if the file has one, as wandb stops there);
        ``count`` (default: ``run_cap``) draws of a random one."""
        if self.method == "grid":
            names = list(self.parameters)
            grids = [[spec["value"]] if "value" in spec else spec["values"] for spec in self.parameters.values()]
            combos = list(itertools.product(*grids))[:self.run_cap or None]
            return [self.point(dict(zip(names, combo))) for combo in combos]
        count = count or self.run_cap
        if not count:
            raise ConfigError(f"sweep {self.path}: method random needs a number of runs: --count N or run_cap")
        rng = np.random.default_rng(seed)
        return [self.point({name: _draw(spec, rng) for name, spec in self.parameters.items()})
                for _ in range(count)]

    def point(self, values: dict[str, Any]) -> SweepPoint:
        """The point of these parameter ``values``: the flags a wandb agent passes for them and its label."""
        from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

        args = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
        flags = args["args"] if self.flag_prefix else args["args_no_hyphens"]
        label = "-".join(f"{name.rsplit('.', 1)[-1]}={values[name]}" for name in self.swept()
                         if name in values) or "point"
        return SweepPoint(values, flags, re.sub(r"[^A-Za-z0-9._=+-]", "_", label))  # a safe folder name


def find_sweep(name: str | Path) -> Path:
    """``name`` if that file exists, else the shipped sweep of that name (``relevance_digits.yaml`` or
    ``sweeps/relevance_digits.yaml``).

    Raises:
        ConfigError: neither exists; the message lists the shipped sweeps.
    """
    from imbsemi.config_files import shipped_configs_dir

    folder = shipped_configs_dir() / "sweeps"
    for candidate in (Path(name), folder / Path(name).name):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.name for p in folder.glob("*.yaml")))
    raise ConfigError(f"sweep file {name} does not exist (looked in the current folder and in {folder}); "
                      f"shipped sweeps: {shipped}")


def read_sweep(path: str | Path) -> Sweep:
    """Parse and check a sweep file.

    Raises:
        ConfigError: not a mapping, an unknown top-level key, a method the local runner cannot run
            (bayes needs wandb's server), no parameters, a parameter without values, a command that is
            not ``imbsemi <subcommand> ... ${args}``; each message names the file and the key.
    """
    path = Path(path)
    where = f"sweep {path}"
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{where}: cannot read it as YAML ({err})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with program, method, metric, parameters, command")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)}; allowed: {', '.join(sorted(KNOWN_KEYS))}")
    method = raw.get("method")
    if method not in LOCAL_METHODS:
        hint = "; bayes needs wandb's sweep server: use `wandb sweep` + `wandb agent`" if method == "bayes" else ""
        raise ConfigError(f"{where}: method = {method!r}: expected one of {', '.join(LOCAL_METHODS)}{hint}")
    parameters = raw.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise ConfigError(f"{where}: parameters: expected a non-empty mapping of config keys to value specs")
    for name, spec in parameters.items():
        _check_parameter(where, name, spec, method)
    subcommand, config, fixed, prefix = _parse_command(where, raw.get("command"), raw.get("program"))
    return Sweep(path, method, subcommand, config, fixed, prefix, parameters, raw.get("metric"), raw.get("run_cap"))


def _check_parameter(where: str, name: str, spec: Any, method: str) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: parameter {name}: expected a mapping such as {{values: [...]}}, got {spec!r}")
    if "parameters" in spec:
        raise ConfigError(f"{where}: parameter {name}: nested parameters are not supported; use dotted names, "
                          f"e.g. {name}.key: {{values: [...]}}")
    if "values" in spec:
        if not isinstance(spec["values"], list) or not spec["values"]:
            raise ConfigError(f"{where}: parameter {name}: values must be a non-empty list, got {spec['values']!r}")
    elif "value" not in spec:
        if not ("min" in spec and "max" in spec):
            raise ConfigError(f"{where}: parameter {name}: give value, values, or min and max")
        if method == "grid":
            raise ConfigError(f"{where}: parameter {name}: a grid needs value or values, not a range")
        if not spec["min"] < spec["max"]:
            raise ConfigError(f"{where}: parameter {name}: min {spec['min']} must be below max {spec['max']}")
        distribution = spec.get("distribution", "int_uniform" if _ints(spec) else "uniform")
        if distribution not in RANGE_DISTRIBUTIONS:
            raise ConfigError(f"{where}: parameter {name}: distribution {distribution!r}; the local runner draws "
                              f"{', '.join(RANGE_DISTRIBUTIONS)} and categorical (values)")


def _parse_command(where: str, command: Any, program: Any) -> tuple[str, str | None, list[str], str]:
    """(imbsemi subcommand, --config value, fixed overrides, flag prefix of the parameters)."""
    expected = "expected a list like [${env}, imbsemi, pipeline, --config, FILE, ${args}]"
    if not isinstance(command, list) or not all(isinstance(t, str) for t in command):
        raise ConfigError(f"{where}: command: {expected}")
    tokens = [program if t == "${program}" else t for t in command if t not in MACROS - {"${program}"}]
    args_macros = [t for t in tokens if t in ARGS_MACROS]
    if len(args_macros) != 1 or tokens[-1] not in ARGS_MACROS:
        raise ConfigError(f"{where}: command: must end with ${{args}} (or ${{args_no_hyphens}}), the swept "
                          f"values; {expected}")
    if len(tokens) < 3 or Path(str(tokens[0])).name != "imbsemi":
        raise ConfigError(f"{where}: command: {expected}")
    subcommand, rest = tokens[1], tokens[2:-1]
    config = None
    if "--config" in rest:
        at = rest.index("--config")
        if at + 1 >= len(rest):
            raise ConfigError(f"{where}: command: --config needs a file")
        config = rest[at + 1]
        rest = rest[:at] + rest[at + 2:]
    return subcommand, config, rest, ARGS_MACROS[tokens[-1]]


def _ints(spec: dict[str, Any]) -> bool:
    return isinstance(spec["min"], int) and isinstance(spec["max"], int)


def _draw(spec: dict[str, Any], rng: np.random.Generator) -> Any:
    """One value as wandb's random search draws it (categorical, uniform, int_uniform, log-uniform, q)."""
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return spec["values"][int(rng.integers(len(spec["values"])))]
    low, high = spec["min"], spec["max"]
    distribution = spec.get("distribution", "int_uniform" if _ints(spec) else "uniform")
    if distribution == "int_uniform":
        return int(rng.integers(low, high + 1))
    if distribution == "log_uniform_values":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    value = float(rng.uniform(low, high))
    return round(value / spec.get("q", 1)) * spec.get("q", 1) if distribution == "q_uniform" else value
