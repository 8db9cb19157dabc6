"""The pipeline: the variants a config declares (chains of sections, each section a stage with its
settings, each run on the output of the one before), their stages run once when shared, the stage runs
reused when proven unchanged, and the comparison of the variants on the test split."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imbsemi import plots
from imbsemi.config import CommonConfig, PipelineConfig
from imbsemi.config_files import config_hash, to_dict
from imbsemi.dataclass_yaml import deep_merge, from_dict
from imbsemi.errors import ConfigError
from imbsemi.io import write_json
from imbsemi.stages.run import StageRun, run_stage
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.tracking import Tracker, prefixed, stage_summary

# the config's own sections -> their stage (selftrain: the finetune section's keys with its own over them)
TYPED_SECTIONS = {"ssp": "ssp", "finetune": "finetune", "pseudolabel": "pseudolabel", "selftrain": "finetune",
                  "semi": "semi"}


@dataclass(frozen=True)
class Step:
    """One stage run of a pipeline: ``stage`` with the keys of ``section``, after the step ``after`` (whose
    main output goes to this stage's input key ``takes``). ``key`` names its run folder and its prefix in
    the summary: the variant that ends with it, else ``<variant>.<section>``."""
    key: str
    stage: Stage
    section: str
    values: dict[str, Any]
    after: str | None
    takes: str | None


def section_values(config: PipelineConfig, name: str, stages: dict[str, Stage],
                   seen: tuple[str, ...] = ()) -> tuple[Stage, dict[str, Any]]:
    """The stage and the keys of section ``name``: a typed section (ssp, finetune, pseudolabel, selftrain, semi)
    or one of ``sections`` (its ``base`` section's keys, then its own).

    Raises:
        ConfigError: an unknown section or stage, or a base chain that loops.
    """
    if name in TYPED_SECTIONS:
        section = config.selftrain or config.finetune if name == "selftrain" else getattr(config, name)
        return stages[TYPED_SECTIONS[name]], to_dict(section)
    if name not in config.sections:
        raise ConfigError(f"section {name!r}: not a section; expected one of "
                          f"{', '.join([*TYPED_SECTIONS, *config.sections])}")
    spec = dict(config.sections[name] or {})
    stage_name, base = spec.pop("stage", None), spec.pop("base", None)
    if stage_name not in stages:
        raise ConfigError(f"sections.{name}.stage = {stage_name!r}: expected one of {', '.join(stages)}")
    values: dict[str, Any] = {}
    if base is not None:
        if base in (*seen, name):
            raise ConfigError(f"sections.{name}.base = {base!r}: the bases loop ({' -> '.join([*seen, name, base])})")
        base_stage, values = section_values(config, base, stages, (*seen, name))
        if base_stage is not stages[stage_name]:
            raise ConfigError(f"sections.{name}.base = {base!r}: a {base_stage.name} section; {name} is a "
                              f"{stage_name} section")
    return stages[stage_name], deep_merge(values, spec)


def pipeline_steps(config: PipelineConfig) -> tuple[dict[str, Step], dict[str, list[str]]]:
    """The steps of every variant, shared where two variants begin alike, in run order, and each variant's
    chain of step keys. Checked before anything runs.

    Raises:
        ConfigError: a malformed variant, an unknown section, or a section whose stage cannot take the
            output of the section before it.
    """
    from imbsemi.stages.table import STAGES  # the table lists the pipeline too: imported when it runs

    if not config.variants:
        raise ConfigError("variants: empty; give at least one, e.g. {ce: [finetune]}")
    unknown = sorted(set(config.only or ()) - set(config.variants))
    if unknown:
        raise ConfigError(f"only: {unknown[0]!r} is not a variant; variants: {', '.join(config.variants)}")
    chains = {}
    for variant, chain in config.variants.items():
        if config.only is not None and variant not in config.only:
            continue
        if not isinstance(chain, list) or not chain or not all(isinstance(s, str) for s in chain):
            raise ConfigError(f"variants.{variant} = {chain!r}: expected a non-empty list of section names")
        chains[variant] = tuple(chain)
    ends = {chain: variant for variant, chain in reversed(chains.items())}  # the first variant wins
    steps: dict[tuple[str, ...], Step] = {}
    for variant, chain in chains.items():
        for position, section in enumerate(chain):
            prefix = chain[:position + 1]
            if prefix in steps:
                continue
            stage, values = section_values(config, section, STAGES)
            after = steps[chain[:position]] if position else None
            takes = None if after is None else _input_key(stage, after.stage, f"variants.{variant}[{position}]")
            key = ends.get(prefix) or f"{variant}.{section}"
            if any(step.key == key for step in steps.values()):
                key = f"{variant}.{section}.{position}"
            steps[prefix] = Step(key, stage, section, values, None if after is None else after.key, takes)
    by_key = {step.key: step for step in steps.values()}
    return by_key, {variant: [steps[chain[:i + 1]].key for i in range(len(chain))] for variant, chain in chains.items()}


def _input_key(stage: Stage, previous: Stage, where: str) -> str:
    """The input key of ``stage`` that takes ``previous``'s main output."""
    role = previous.main_output[0]
    keys = [key for key, roles in stage.inputs.items() if role in roles]
    if not keys:
        raise ConfigError(f"{where}: a {stage.name} section cannot follow a {previous.name} section: it takes no "
                          f"{role} (its inputs: {', '.join(stage.inputs) or 'none'})")
    return keys[0]


def step_config(pipeline: PipelineConfig, step: Step, folder: Path, inputs: dict[str, str]) -> CommonConfig:
    """The stage config of ``step``: the pipeline's common keys, the section's keys and the input files;
    its run folder is ``<folder>/<stage>/<key>`` or, with ``shared_stages``, ``<shared_stages>/<stage>/<key>-<hash>``.

    Raises:
        ConfigError: a section key the stage does not take, or a bad value, naming the section.
    """
    values = to_dict(pipeline)
    raw = {f.name: values[f.name] for f in dataclasses.fields(CommonConfig)}
    given = set(step.values) & set(inputs)
    if given:
        raise ConfigError(f"section {step.section}: {sorted(given)[0]} is set by the variant's chain; remove it")
    raw.update({**step.values, **inputs, "out_dir": str(folder), "name": step.key, "overwrite": False})
    config = from_dict(step.stage.config, raw, f"pipeline section {step.section}")
    if pipeline.shared_stages is not None:
        config = dataclasses.replace(config, out_dir=pipeline.shared_stages,
                                     name=f"{step.key}-{config_hash(config)[:8]}")
    return config


def run_pipeline(config: PipelineConfig, folder: Path | None = None, tracker: Tracker | None = None) -> StageResult:
    """Run every variant's chain of stages and compare the variants on the test split.

    Stages run in sub-folders of the run folder (default: ``run_folder(config, "pipeline")``), or with
    ``shared_stages`` in ``<shared_stages>/<stage>/<key>-<hash>``: runs that share a stage's config
    (e.g. the SSP and base classifier of a sweep's relevance points with one seed) then run it once.
    Each stage's finished run is reused when proven unchanged, else computed again. Metrics: the test
    report per variant (of its last stage), the labeled counts, each variant's chain of step keys and,
    per step, its folder and whether it was reused; ``summary.json``: the flat summary also sent to
    wandb (one run; each step under its key, ``data/`` for the realised pool, ``variants``)."""
    return run_stage(PIPELINE, config, folder, tracker)


def _run_steps(run: StageRun, track: Tracker) -> dict[str, Any]:
    config, folder = run.config, run.folder
    steps, chains = pipeline_steps(config)
    results: dict[str, StageResult] = {}
    uses_pool = False
    for key, step in steps.items():
        inputs = {} if step.after is None else {step.takes: str(results[step.after].paths[
            steps[step.after].stage.main_output[0]])}
        stage_config = step_config(config, step, folder, inputs)
        uses_pool |= "data.pool" not in stage_config.inert_keys()
        results[key] = run_stage(step.stage, stage_config, tracker=track.stage(key), recompute=True)
        run.parts.append(results[key].folder)
    splits = run.splits
    if uses_pool:
        _ = splits.pool  # in the data manifest: a changed pool makes the pipeline run again
    finals = {variant: results[chain[-1]].metrics for variant, chain in chains.items()}
    metrics = {"config_hash": run.config_hash, "train_counts": splits.counts,
               "test": {variant: final["test"] for variant, final in finals.items() if "test" in final},
               "variants": chains,
               "stages": {key: {"folder": str(r.folder), "reused": r.reused} for key, r in results.items()}}
    if metrics["test"]:
        plots.per_class_bars(folder / "figures" / "per_class_vs_size.png", splits.counts,
                             {v: report["per_class_acc"] for v, report in metrics["test"].items()},
                             "per-class test accuracy")
    manifest = splits.manifest()
    track.add_config({"data_manifest": manifest})
    summary = {"variants": list(chains), **prefixed("data", data_summary(manifest))}
    for key, result in results.items():
        summary.update(prefixed(key, stage_summary(result.metrics)))
    for variant, chain in chains.items():
        labelled = [results[key].metrics["reference_accuracy"] for key in chain
                    if results[key].metrics.get("reference_accuracy") is not None]
        if labelled:
            summary[f"{variant}/pseudo_accuracy"] = labelled[-1]
    track.summarize(summary)  # the figure is logged by run_stage
    write_json(folder / "summary.json", summary)
    return metrics


def data_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The realised data of a run: labeled counts per class and, with a pool, its counts per class, size,
    relevance, rho_U and fingerprint."""
    summary = {"labeled_counts": manifest["labeled"]["class_counts"]}
    pool = manifest.get("pool")
    if pool is not None:
        summary.update(pool_counts=pool["class_counts"], pool_size=pool["size"], relevance=pool["relevance"],
                       rho_u=pool["rho_u"], pool_fingerprint=pool["fingerprint"])
    return summary


def format_table(metrics: dict[str, Any]) -> str:
    """Per-class and grouped test accuracy, macro-F1 and G-mean (%) per variant, one row per class or group."""
    reports, counts = metrics["test"], metrics["train_counts"]
    variants = list(reports)
    header = f"{'':<16}{'n_train':>8}" + "".join(f"{v:>11}" for v in variants)
    lines = [header, "-" * len(header)]
    for label, count in enumerate(counts):
        cells = "".join(f"{100 * reports[v]['per_class_acc'][label]:>11.1f}" for v in variants)
        lines.append(f"{'class ' + str(label):<16}{count:>8}{cells}")
    lines.append("-" * len(header))
    groups = reports[variants[0]]["shot_groups"]
    for key in ("many", "medium", "few", "acc", "balanced_acc", "macro_f1", "g_mean"):
        size = f"{len(groups[key])} cl" if key in groups else ""
        cells = "".join(f"{100 * reports[v].get(key, math.nan):>11.1f}" for v in variants)  # older runs lack some
        lines.append(f"{key:<16}{size:>8}{cells}")
    return "\n".join(lines)


def result_line(metrics: dict[str, Any]) -> str:
    """The machine-readable last line of the demo."""
    values = " ".join(f"{v}={report['balanced_acc']:.3f}" for v, report in metrics["test"].items())
    return f"RESULT balanced_acc {values}"


def _summary(config: PipelineConfig, result: StageResult) -> str:
    """The comparison table of the variants and the RESULT line (the demo's output)."""
    if not result.metrics["test"]:
        return f"pipeline: no variant ends with a test report; runs in {result.folder}"
    thresholds = next(iter(result.metrics["test"].values()))["shot_thresholds"]
    return (f"\nHeld-out test set ({config.data.source}): accuracy (%); many > {thresholds[0]:.1f} and "
            f"few < {thresholds[1]:.1f} training images. Runs in {result.folder}\n"
            f"{format_table(result.metrics)}\n{result_line(result.metrics)}")


PIPELINE = Stage("pipeline", PipelineConfig, _run_steps,
                 outputs={"summary": "summary.json", "figure": "figures/per_class_vs_size.png"}, inputs={},
                 prefix=lambda config: "", description="pipeline --config FILE: the variants' chains of stages from "
                                                       "one config, finished stages reused, compared on the test set",
                 summary=_summary, check=pipeline_steps)
