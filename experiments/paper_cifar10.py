"""The paper's CIFAR-10-LT table (spec §10.1-10.2) in one command: for each rho and seed, CE; LDAM-DRW;
CE(Uniform), CE(Balanced) and LDAM-DRW initialised from rotation SSP; and CE / LDAM-DRW + D_U
(pseudo-labels from the CE / LDAM-DRW model, self-training at batch 256), with the paper's recipes
(200 epochs, its schedule). Every stage run is kept under ``--runs`` by config hash: a finished one is
reused, an interrupted one resumes. ``-j N`` runs N stage runs at once (on one GPU they share it).

    python experiments/paper_cifar10.py --root data [--rhos 100,50,10] [--seeds 0] [--epochs 200] [-j 4]
        [--budget SECONDS] [--out experiments/results/paper_cifar10.md] [key=value ...]

``data.root`` must hold ``cifar-10-batches-py`` (the official pickles, or the JPEG re-encoding that
``data_prep/convert_cifar10_jpeg.py`` writes). The D_U rows cannot use the paper's pool, the 500K
Tiny-Images subset, which is not obtainable; they draw D_U@5x (rho_U = 1) from CIFAR-10's own training
images that the labeled set left (relevance 1). At the paper's n_max = 5,000 the head class has none
left, so those rows use n_max = ``--du-n-max`` (1,500, the N1 of long-tailed semi-supervised papers):
5x |labeled| balanced over 10 classes then fits every rho (rho = 10: 3,065 per class, 3,500 left).
Their CE / LDAM-DRW baselines are trained on that same smaller labeled set and shown beside them.

Each cell: top-1 test error (%) of the honestly selected model (the last epoch: the paper's counts leave
no validation images), the best-test-epoch error (the original code's protocol; a diagnostic, never
used for selection), the paper's number, and many / medium / few-shot accuracy; mean ± sd over seeds.
Stops at ``--budget`` seconds; cells whose runs did not finish show as "-". Last line:
``RESULT finished=<runs done>/<runs> cells=<done>/<cells> wall=<s>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from imbsemi.config import CommonConfig, FinetuneConfig, PseudolabelConfig, SSPConfig
from imbsemi.config_files import config_hash, load_config
from imbsemi.errors import ConfigError, user_errors_to_exit
from imbsemi.io import atomic_write, read_json
from imbsemi.stages import STAGES, run_folder
from imbsemi.stages.jobs import JobsOutcome, StageJob, run_jobs

# row key -> (label, {rho: the paper's top-1 error %}, source tag in spec §10)
ROWS: dict[str, tuple[str, dict[int, float], str]] = {
    "ce": ("CE", {100: 29.64, 50: 25.19, 10: 13.61}, "§10.1 [secondary]"),
    "ldam": ("LDAM-DRW", {100: 22.97, 50: 19.06, 10: 11.84}, "§10.1 [secondary]"),
    "ce_ssp": ("CE(Uniform) + SSP", {100: 26.50, 50: 21.80, 10: 12.28}, "§10.2 [README]"),
    "ceb_ssp": ("CE(Balanced) + SSP", {100: 23.47, 50: 19.60, 10: 11.57}, "§10.2 [README]"),
    "ldam_ssp": ("LDAM-DRW + SSP", {100: 22.17, 50: 17.87, 10: 11.47}, "§10.2 [secondary]"),
    "ce_du_base": ("CE, n_max 1,500 (base of CE + D_U)", {}, "-"),
    "ce_du": ("CE + D_U@5x", {100: 17.48, 50: 16.79, 10: 10.22}, "§10.1 [secondary]; 50: [README]"),
    "ldam_du_base": ("LDAM-DRW, n_max 1,500 (base of LDAM-DRW + D_U)", {}, "-"),
    "ldam_du": ("LDAM-DRW + D_U@5x", {100: 14.96, 50: 14.33, 10: 8.72}, "§10.1 [secondary]"),
}


COMMON_KEYS = {f.name for f in dataclasses.fields(CommonConfig)}  # overrides for every stage; others: training


def stage_job(key: str, stage: str, cls: type, config_file: str, overrides: list[str],
              after: tuple[str, ...] = ()) -> StageJob:
    """A job whose run folder is named by its key and config hash (so another budget is another run)."""
    config = load_config(cls, config_file, overrides)
    return StageJob(key, stage, dataclasses.replace(config, name=f"{key}-{config_hash(config)[:8]}"), after)


def output(job: StageJob) -> str:
    """The path of ``job``'s main output (backbone, model or pseudo-labels), known before it runs."""
    return str(run_folder(job.config, job.stage) / STAGES[job.stage].main_output[1])


def cell_jobs(rho: int, seed: int, args: argparse.Namespace, overrides: list[str]) -> list[StageJob]:
    """Every stage run of one (rho, seed), listed after the runs it needs."""
    common = [o for o in overrides if o.lstrip("-").split(".")[0].split("=")[0] in COMMON_KEYS]
    data = [f"data.root={args.root}", f"data.rho={rho}", f"seed={seed}", f"out_dir={args.runs}", *common]
    train = [*data, *([f"epochs={args.epochs}"] if args.epochs else []), *overrides]
    du_base = [*train, f"data.n_max={args.du_n_max}"]
    du_pool = [f"data.n_max={args.du_n_max}", "data.pool.relevant=null", "data.pool.irrelevant=null"]
    tag = f"rho{rho}-s{seed}"

    def key(name: str) -> str:
        return f"{tag}-{name}"

    ssp = stage_job(key("ssp"), "ssp", SSPConfig, "ssp/rotation_cifar10.yaml", train)
    init = [f"init={output(ssp)}"]
    jobs = [ssp,
            stage_job(key("ce"), "finetune", FinetuneConfig, "finetune/ce_cifar10.yaml", train),
            stage_job(key("ldam"), "finetune", FinetuneConfig, "finetune/ldam_drw_cifar10.yaml", train),
            stage_job(key("ce_du_base"), "finetune", FinetuneConfig, "finetune/ce_cifar10.yaml", du_base),
            stage_job(key("ldam_du_base"), "finetune", FinetuneConfig, "finetune/ldam_drw_cifar10.yaml", du_base)]
    by_key = {job.key: job for job in jobs}
    jobs += [stage_job(key("ce_ssp"), "finetune", FinetuneConfig, "finetune/ce_cifar10.yaml", train + init,
                       (ssp.key,)),
             stage_job(key("ceb_ssp"), "finetune", FinetuneConfig, "finetune/ce_balanced_cifar10.yaml",
                       train + init, (ssp.key,)),
             stage_job(key("ldam_ssp"), "finetune", FinetuneConfig, "finetune/ldam_drw_cifar10.yaml", train + init,
                       (ssp.key,))]
    for loss, selftrain_file in (("ce", "ce_pseudo_cifar10.yaml"), ("ldam", "ldam_drw_pseudo_cifar10.yaml")):
        base = by_key[key(f"{loss}_du_base")]
        labels = stage_job(key(f"{loss}_labels"), "pseudolabel", PseudolabelConfig, "pseudolabel/cifar10.yaml",
                           [*data, *du_pool, f"checkpoint={output(base)}"], (base.key,))
        jobs += [labels, stage_job(key(f"{loss}_du"), "finetune", FinetuneConfig, f"finetune/{selftrain_file}",
                                   [*train, *du_pool, f"pseudo_labels={output(labels)}"], (labels.key,))]
    return jobs


def needed(jobs: list[StageJob], keys: set[str]) -> list[StageJob]:
    """The jobs named in ``keys`` and those they run after, in their order."""
    by_key, wanted = {job.key: job for job in jobs}, set()
    todo = [key for key in keys if key in by_key]
    while todo:
        key = todo.pop()
        if key not in wanted:
            wanted.add(key)
            todo += by_key[key].after
    return [job for job in jobs if job.key in wanted]


def _present(value: float | None) -> bool:
    """Whether a group's accuracy exists (a group without classes, e.g. few-shot on CIFAR-10, has none)."""
    return value is not None and not math.isnan(value)


def _error(report: dict[str, Any] | None) -> float | None:
    return None if report is None else 100.0 * (1.0 - report["acc"])


def _stat(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.{digits}f}{spread}"


def table(rhos: list[int], seeds: list[int], rows: list[str], outcome: JobsOutcome) -> list[str]:
    """One markdown row per method: per rho the selected error, best-test-epoch error, the paper's
    error and many/medium/few accuracy (%), mean ± sd over the seeds whose run finished."""
    header = "| method | paper source |" + "".join(
        f" rho={r}: error (last epoch) | best-test-epoch error | paper | many / medium / few acc |" for r in rhos)
    lines = [header, "|---|---|" + "---|---|---|---|" * len(rhos)]
    for row in rows:
        label, paper, source = ROWS[row]
        cells = []
        for rho in rhos:
            metrics = [outcome.results[f"rho{rho}-s{s}-{row}"].metrics for s in seeds
                       if f"rho{rho}-s{s}-{row}" in outcome.results]
            errors = [_error(m["test"]) for m in metrics]
            best = [e for e in (_error(m.get("test_curve_best")) for m in metrics) if e is not None]
            shots = " / ".join(_stat([100 * m["test"][g] for m in metrics if _present(m["test"].get(g))], 0)
                               for g in ("many", "medium", "few"))
            n = f" (n={len(metrics)})" if metrics and len(metrics) != len(seeds) else ""
            cells.append(f" {_stat(errors, 2)}{n} | {_stat(best, 2)} | {paper.get(rho, '-')} | "
                         f"{shots if metrics else '-'} |")
        lines.append(f"| {label} | {source} |" + "".join(cells))
    return lines


def timings(jobs: dict[str, StageJob], outcome: JobsOutcome) -> list[str]:
    """Wall time and training images/s of each run, from its process's start to its end (the imports,
    data loading and evaluation included)."""
    lines = ["| run | reused | wall (s) | train images/s |", "|---|---|---|---|"]
    for key, result in outcome.results.items():
        seconds, epochs = outcome.seconds[key], getattr(jobs[key].config, "epochs", None)
        images = result.metrics.get("train_size") or sum(
            read_json(result.folder / "data_manifest.json")["labeled"]["class_counts"])
        speed = f"{images * epochs / seconds:,.0f}" if epochs and not result.reused else "-"
        lines.append(f"| {key} | {'yes' if result.reused else 'no'} | {seconds:.1f} | {speed} |")
    return lines


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data", help="data.root: the folder holding cifar-10-batches-py")
    parser.add_argument("--rhos", default="100,50,10")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--rows", default=None, help=f"rows to run, comma-separated (default: all): {', '.join(ROWS)}")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every training stage (default: 200)")
    parser.add_argument("--du-n-max", type=int, default=1500, help="n_max of the D_U rows and their baselines")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="stage runs at once (processes)")
    parser.add_argument("--budget", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--runs", default="runs/paper_cifar10", help="folder of the stage runs")
    parser.add_argument("--out", default="experiments/results/paper_cifar10.md")
    return parser.parse_known_args(argv)


@user_errors_to_exit
def main(argv: list[str] | None = None) -> int:
    args, overrides = parse(argv)
    start = time.time()
    rhos, seeds = [int(r) for r in args.rhos.split(",")], [int(s) for s in args.seeds.split(",")]
    rows = args.rows.split(",") if args.rows else list(ROWS)
    if set(rows) - set(ROWS):
        raise ConfigError(f"--rows: unknown {', '.join(sorted(set(rows) - set(ROWS)))}; "
                          f"expected some of {', '.join(ROWS)}")
    # seed by seed, rho by rho: what finishes first under a budget is whole cells of the first seed
    jobs = needed([job for seed in seeds for rho in rhos for job in cell_jobs(rho, seed, args, overrides)],
                  {f"rho{r}-s{s}-{row}" for r in rhos for s in seeds for row in rows})
    outcome = run_jobs(jobs, args.jobs, None if args.budget is None else start + args.budget)
    wall = time.time() - start
    cells = sum(f"rho{r}-s{s}-{row}" in outcome.results for r in rhos for s in seeds for row in rows)
    lines = [f"CIFAR-10-LT, ResNet-32, seeds {args.seeds}, epochs {args.epochs or 200}, {args.jobs} runs at once, "
             f"data.root {args.root}, overrides {' '.join(overrides) or 'none'}; wall {wall:.0f} s.", "",
             f"Top-1 test error (%). D_U rows: n_max {args.du_n_max:,} and a pool of CIFAR-10's remaining training "
             "images (see experiments/paper_cifar10.py), not the paper's Tiny-Images pool at n_max 5,000.", "",
             *table(rhos, seeds, rows, outcome), "", *timings({j.key: j for j in jobs}, outcome)]
    if outcome.failed or outcome.unfinished:
        lines += ["", f"Not finished: {', '.join(outcome.unfinished) or 'none'}.",
                  *[f"- failed {key}: {error.splitlines()[0]}" for key, error in outcome.failed.items()]]
    with atomic_write(Path(args.out), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"RESULT finished={len(outcome.results)}/{len(jobs)} cells={cells}/{len(rhos) * len(seeds) * len(rows)} "
          f"wall={wall:.0f}")
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
