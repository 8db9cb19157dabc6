"""The report of a sweep: per swept value, mean ± sd over seeds of the test accuracies of each variant
the runs hold, the paired gain of each variant over the first and the pseudo-label accuracy; a markdown
and a CSV table and one PNG per swept parameter (accuracy against its value, with error bars), like the
paper's ablation figures. Points come from a local sweep folder or from a wandb sweep (same summary
keys: ``variants``, ``<variant>/<metric>``, ``<variant>/pseudo_accuracy``)."""
from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from imbsemi import plots
from imbsemi.errors import DataError
from imbsemi.io import atomic_write, read_json
from imbsemi.sweeps.spec import read_sweep

GROUPS = ("balanced_acc", "macro_f1", "g_mean", "many", "medium", "few")


@dataclass(frozen=True)
class Record:
    """One finished point: its parameter values and its run summary (summary.json / wandb summary)."""
    values: dict[str, Any]
    summary: dict[str, Any]


def local_records(folder: Path) -> tuple[list[str], list[Record]]:
    """(swept parameters, records of the finished points) of a sweep folder made by ``run_sweep``."""
    if not (folder / "sweep.yaml").is_file():
        raise DataError(f"{folder} has no sweep.yaml; expected a sweep folder made by `imbsemi sweep`")
    swept = read_sweep(folder / "sweep.yaml").swept()
    records = [Record(read_json(point)["values"], read_json(point.parent / "summary.json"))
               for point in sorted(folder.glob("runs/*/*/point.json")) if (point.parent / "summary.json").is_file()]
    if not records:
        raise DataError(f"{folder}: no finished point (runs/*/*/summary.json)")
    return swept, records


def wandb_records(sweep_path: str) -> tuple[list[str], list[Record]]:
    """(swept parameters, records of the finished runs) of the wandb sweep ``entity/project/sweep_id``
    (needs a login and the network)."""
    import wandb

    sweep = wandb.Api().sweep(sweep_path)
    finished = [(run.config, dict(run.summary)) for run in sweep.runs if run.state == "finished"]
    return records_from_runs(sweep.config["parameters"], finished)


def records_from_runs(parameters: dict[str, Any], runs: Sequence[tuple[dict[str, Any], dict[str, Any]]]
                      ) -> tuple[list[str], list[Record]]:
    """(swept parameters, records) of wandb runs given as (config, summary): a parameter's value is the
    config's flat key (as an agent's sweep run stores it) or, failing that, the nested config's value."""
    swept = [name for name, spec in parameters.items() if "min" in spec or len(spec.get("values", ())) > 1]
    return swept, [Record({name: _lookup(config, name) for name in parameters}, summary) for config, summary in runs]


def _lookup(config: dict[str, Any], key: str) -> Any:
    if key in config:
        return config[key]
    node: Any = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def variants(records: Sequence[Record]) -> list[str]:
    """The variants the records hold (their summaries' ``variants``), in the order first met."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.summary.get("variants") or []))
    if not names:
        raise DataError("no run summary names its variants; expected pipeline runs (summary key 'variants')")
    return list(names)


def aggregate(swept: Sequence[str], records: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per combination of the swept values other than ``seed``, in ascending order: ``n`` (seeds),
    ``<variant>/<group>``, ``gain/<variant>/<group>`` (the variant minus the first variant, per seed) and
    ``<variant>/pseudo_accuracy`` as (mean, sd) in %."""
    keys = [name for name in swept if name != "seed"]
    names = variants(records)
    groups: dict[tuple, list[Record]] = {}
    for record in records:
        groups.setdefault(tuple(record.values.get(k) for k in keys), []).append(record)
    rows = []
    for combo in sorted(groups, key=lambda c: [(v is None, v) for v in c]):
        members = groups[combo]
        row: dict[str, Any] = {**dict(zip(keys, combo)), "n": len(members)}
        for variant in names:
            for group in GROUPS:
                row[f"{variant}/{group}"] = _mean_sd([r.summary.get(f"{variant}/{group}") for r in members])
        for variant in names[1:]:
            for group in GROUPS:
                row[f"gain/{variant}/{group}"] = _mean_sd([_diff(r.summary, variant, names[0], group)
                                                           for r in members])
        for variant in names:
            row[f"{variant}/pseudo_accuracy"] = _mean_sd([r.summary.get(f"{variant}/pseudo_accuracy") for r in members])
        rows.append(row)
    return rows


def write_report(out: Path, title: str, swept: Sequence[str], records: Sequence[Record]) -> dict[str, Path]:
    """Write ``sweep_report.md``, ``sweep_report.csv`` and ``accuracy_vs_<parameter>.png`` (one per
    swept parameter but ``seed``) into ``out``; returns the paths by role."""
    rows, names = aggregate(swept, records), variants(records)
    keys = [name for name in swept if name != "seed"]
    paths = {"markdown": out / "sweep_report.md", "csv": out / "sweep_report.csv"}
    with atomic_write(paths["markdown"], "w") as handle:
        handle.write(markdown(title, keys, names, rows, len(records)))
    with atomic_write(paths["csv"], "w") as handle:
        handle.write(csv_text(keys, rows))
    for key in keys:
        paths[f"plot/{key}"] = plot(out, key, [k for k in keys if k != key], names, rows)
    return paths


def markdown(title: str, keys: Sequence[str], names: Sequence[str], rows: Sequence[dict[str, Any]],
             points: int) -> str:
    """The table: swept values, seeds, balanced accuracy of every variant (``names``), the paired gain of
    the last variant over the first, macro-F1, G-mean and many/medium/few of the last and its pseudo-label
    accuracy, mean ± sd in %."""
    first, last = names[0], names[-1]
    header = [k.rsplit(".", 1)[-1] for k in keys] + ["seeds", *(f"{v} bal." for v in names), "gain (paired)",
                                                     f"{last} macro-F1", "G-mean", "many", "medium", "few",
                                                     "pseudo-label acc."]
    cells = [*(f"{v}/balanced_acc" for v in names), f"gain/{last}/balanced_acc", f"{last}/macro_f1",
             f"{last}/g_mean", f"{last}/many", f"{last}/medium",
             f"{last}/few", f"{last}/pseudo_accuracy"]
    lines = [f"# {title}", "", f"{points} finished points; test accuracy in %, mean ± sd over seeds "
             f"(gain: {last} minus {first} of the same seed).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join([*(str(row[k]) for k in keys), str(row["n"]),
                                         *(_cell(row.get(c, (None, None))) for c in cells)]) + " |")
    return "\n".join(lines) + "\n"


def csv_text(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """Every aggregated value, mean and sd in their own columns."""
    stats = [k for k in rows[0] if k not in (*keys, "n")] if rows else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*keys, "n", *(f"{s}_{part}" for s in stats for part in ("mean", "sd"))])
    for row in rows:
        writer.writerow([*(row[k] for k in keys), row["n"], *(v for s in stats for v in row[s])])
    return buffer.getvalue()


def plot(out: Path, key: str, others: Sequence[str], names: Sequence[str], rows: Sequence[dict[str, Any]]) -> Path:
    """Balanced accuracy of every variant (``names``) against ``key`` (one line per variant and value of
    the other swept keys)."""
    points: dict[str, list[tuple[Any, float, float]]] = {}
    for variant in names:
        for row in rows:
            name = " ".join([variant, *(f"{o.rsplit('.', 1)[-1]}={row[o]}" for o in others)])
            points.setdefault(name, []).append((row[key], *row[f"{variant}/balanced_acc"]))
    series = {name: tuple(map(list, zip(*sorted(values, key=lambda p: p[0])))) for name, values in points.items()}
    leaf = key.rsplit(".", 1)[-1]
    path = out / f"accuracy_vs_{leaf}.png"
    plots.errorbar_lines(path, leaf, series, "balanced test accuracy (%)",
                         f"balanced accuracy vs {leaf} (mean ± sd over seeds)")
    return path


def _diff(summary: dict[str, Any], variant: str, base_variant: str, group: str) -> float | None:
    top, base = summary.get(f"{variant}/{group}"), summary.get(f"{base_variant}/{group}")
    return None if top is None or base is None else top - base


def _mean_sd(values: Sequence[float | None]) -> tuple[float, float] | tuple[None, None]:
    present = [100 * v for v in values if v is not None and v == v]
    if not present:
        return (None, None)
    return (statistics.mean(present), statistics.stdev(present) if len(present) > 1 else 0.0)


def _cell(value: tuple[float | None, float | None]) -> str:
    mean, sd = value
    return "-" if mean is None else f"{mean:.1f} ± {sd:.1f}"
