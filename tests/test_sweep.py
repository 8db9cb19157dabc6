"""Sweeps: wandb sweep files -> points with the agent's flags; every point checked before any run; a
2 x 2 sweep end to end offline (shared stages once per seed, wandb runs, resume, report)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS
from imbsemi.config import PipelineConfig
from imbsemi.config_files import config_hash, load_config
from imbsemi.errors import ConfigError, DataError
from imbsemi.io import read_json
from imbsemi.stages import pipeline as pipeline_module
from imbsemi.sweeps.runner import check_parameters, plan_sweep, run_sweep
from imbsemi.sweeps.report import aggregate, local_records, records_from_runs, write_report
from imbsemi.sweeps.spec import read_sweep
from test_pipeline import TINY
from wandb_records import read_offline_run

SWEEPS = CONFIGS / "sweeps"


def write_sweep(folder: Path, parameters: dict, method: str = "grid", command: list | None = None) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({
        "program": "imbsemi", "method": method, "metric": {"name": "ce+pseudo/balanced_acc", "goal": "maximize"},
        "parameters": parameters,
        "command": command or ["${env}", "imbsemi", "pipeline", "--config", "quickstart.yaml", *TINY,
                               "logger.wandb={project: test}", "${args}"]}))
    return path


@pytest.mark.parametrize("name, seeds", [("relevance", 3), ("relevance_digits", 5)])
def test_relevance_sweeps_cover_the_grid_with_seeds(name: str, seeds: int) -> None:
    values = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    sweep = read_sweep(SWEEPS / f"{name}.yaml")
    points = sweep.points()
    assert len(points) == seeds * len(values) and sweep.swept() == ["data.pool.relevance", "seed"]
    assert sorted({p.values["data.pool.relevance"] for p in points}) == values
    assert points[1].flags[0] == f"--data.pool.relevance={values[0]}"
    assert points[1].label == f"relevance={values[0]}-seed=1"


@pytest.mark.parametrize("name, seeds", [("rho_u", 3), ("rho_u_digits", 5)])
def test_rho_u_sweeps_are_one_half_one_and_two_rho(name: str, seeds: int) -> None:
    sweep = read_sweep(SWEEPS / f"{name}.yaml")
    rho = load_config(check_parameters(sweep).config, sweep.config, [*sweep.fixed, *sweep.points()[0].flags]).data.rho
    assert sweep.parameters["data.pool.rho_u"]["values"] == [1, rho / 2, rho, 2 * rho]
    assert {p.values["seed"] for p in sweep.points()} == set(range(seeds))


@pytest.mark.parametrize("name", ["relevance", "rho_u", "relevance_digits", "rho_u_digits"])
def test_shipped_sweeps_name_config_keys_with_valid_values(name: str) -> None:
    sweep = read_sweep(SWEEPS / f"{name}.yaml")
    assert check_parameters(sweep).config is PipelineConfig
    assert sweep.metric == {"name": "ce+pseudo/balanced_acc", "goal": "maximize"}


def test_agent_command_gives_the_local_point_config(tmp_path: Path) -> None:
    """The argv a wandb agent builds for a point (its own macro expansion) parses to the config the local
    runner runs for that point."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    from imbsemi.cli.common import parse_config
    sweep = read_sweep(write_sweep(tmp_path, {"data.pool.relevance": {"values": [0.5, 1.0]}, "seed": {"value": 3}}))
    planned = plan_sweep(sweep, tmp_path / "out")[0]
    args = create_sweep_command_args({"args": {k: {"value": v} for k, v in planned.point.values.items()}})
    argv = [a for token in create_sweep_command(yaml.safe_load(sweep.path.read_text())["command"])
            for a in (args["args"] if token == "${args}" else [] if token == "${env}" else [token])]
    assert argv[:2] == ["imbsemi", "pipeline"] and argv[-2:] == ["--data.pool.relevance=0.5", "--seed=3"]
    config, _ = parse_config(PipelineConfig, "imbsemi pipeline", "", argv[2:])
    assert config_hash(config) == config_hash(planned.config)
    assert config.data.pool.relevance == 0.5 and config.seed == 3 and config.logger.wandb.name == "relevance=0.5 seed=3"


@pytest.mark.parametrize("parameters, method, message", [
    ({"seed": {"values": [0, 1]}}, "hyperband", "method = 'hyperband': expected one of grid, random"),
    ({"seed": {"values": [0, 1]}}, "bayes", "bayes needs wandb's sweep server"),
    ({"data.pool.relevance": {"values": []}}, "grid", "parameter data.pool.relevance: values must be a non-empty list"),
    ({"data.pool.relevanc": {"values": [0.5]}}, "grid", "parameter data.pool.relevanc = 0.5: "),
    ({"data.pool.relevance": {"values": [0.5, 1.5]}}, "grid", "parameter data.pool.relevance = 1.5: "),
    ({"data.pool.relevance": {"min": 0.2, "max": 0.8}}, "grid", "a grid needs value or values, not a range"),
    ({"finetune.epochs": {"values": [0]}}, "grid", "finetune.epochs = 0: must be > 0"),
    ({"data.pool.rho_u": {"values": [1, 50]}}, "grid", "point rho_u=50: unlabeled pool: class 0 needs"),
    ({"seed": {"values": [0, 1]}}, "random", "method random needs a number of runs"),
])
def test_malformed_sweeps_are_refused_before_any_run(tmp_path: Path, parameters: dict, method: str,
                                                      message: str) -> None:
    out = tmp_path / "out"
    with pytest.raises((ConfigError, DataError)) as info:
        run_sweep(read_sweep(write_sweep(tmp_path, parameters, method)), out)
    assert message in str(info.value)
    assert not out.exists()


def test_dry_run_lists_every_point_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from imbsemi.cli.main import main
    path = write_sweep(tmp_path, {"data.pool.relevance": {"values": [0.5, 1.0]}, "seed": {"values": [0, 1, 2]}})
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  todo  ")]
    assert len(lines) == 6 and "relevance=1.0-seed=2" in lines[-1] and not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["sweep", str(path), "-j", "0"])
    assert "--jobs 0: must be at least 1" in capsys.readouterr().err


def test_command_must_pass_the_swept_values(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"seed": {"values": [0, 1]}}, command=["imbsemi", "pipeline"])
    with pytest.raises(ConfigError, match=r"must end with \$\{args\}"):
        read_sweep(path)


def test_random_sweep_draws_are_seeded_and_in_range(tmp_path: Path) -> None:
    sweep = read_sweep(write_sweep(tmp_path, {"data.pool.relevance": {"min": 0.25, "max": 0.75},
                                              "seed": {"values": [0, 1, 2]}}, "random"))
    first, again, other = sweep.points(20, seed=0), sweep.points(20, seed=0), sweep.points(20, seed=1)
    assert first == again and first != other
    assert all(0.25 <= p.values["data.pool.relevance"] <= 0.75 and p.values["seed"] in (0, 1, 2) for p in first)


@pytest.mark.slow  # four pipelines sharing stages, ~24 s
def test_two_by_two_sweep_shares_stages_resumes_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    sweep = read_sweep(write_sweep(tmp_path, {"data.pool.relevance": {"values": [0.5, 1.0]},
                                              "seed": {"values": [0, 1]}}))
    out = tmp_path / "out"
    labels = ["relevance=0.5-seed=0", "relevance=0.5-seed=1", "relevance=1.0-seed=0", "relevance=1.0-seed=1"]
    calls = []
    real = pipeline_module.run_stage

    def interrupted_third_labelling(stage, config, **kwargs):
        calls.extend([config.name] if stage.name == "pseudolabel" else [])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(stage, config, **kwargs)

    monkeypatch.setattr(pipeline_module, "run_stage", interrupted_third_labelling)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out)
    monkeypatch.setattr(pipeline_module, "run_stage", real)
    resumed = run_sweep(sweep, out)
    assert resumed.skipped == labels[:2] and resumed.ran == labels[2:]
    assert run_sweep(sweep, out).ran == []  # everything finished: nothing runs
    stages = out / "stages"
    # SSP, CE and CE + SSP once per seed; pseudo-labels and self-training once per point
    counts = {key: len([p for p in stages.glob(f"*/{key}-*") if p.is_dir()])
              for key in ("ce+ssp.ssp", "ce", "ce+ssp", "ce+pseudo.pseudolabel", "ce+pseudo")}
    assert counts == {"ce+ssp.ssp": 2, "ce": 2, "ce+ssp": 2, "ce+pseudo.pseudolabel": 4, "ce+pseudo": 4}
    third = read_json(out / "runs/pipeline" / labels[2] / "metrics.json")["stages"]
    assert {name for name, stage in third.items() if stage["reused"]} == {"ce+ssp.ssp", "ce", "ce+ssp"}

    for label in labels:
        relevance = float(label.split("-")[0].split("=")[1])
        run = read_offline_run(out / "runs/pipeline" / label)
        assert run["name"] == label.replace("-", " ") and run["group"] == label  # the agent's flags name it
        assert run["config"]["data"]["pool"]["relevance"] == relevance and run["config"]["seed"] == int(label[-1])
        manifest = run["config"]["data_manifest"]
        assert manifest["labeled"]["class_counts"] == [int(50 * 0.1 ** (i / 9)) for i in range(10)]  # rho 10
        summary = run["summary"]
        pool = summary["data/pool_size"]
        # round(relevance x 3 x 199) relevant images, 10 classes at rho_U = 1: 29 or 59 per class; as many
        # irrelevant ones at relevance 0.5
        assert pool == {0.5: 580, 1.0: 590}[relevance] and summary["data/relevance"] == relevance
        assert summary["data/labeled_counts"] == manifest["labeled"]["class_counts"]
        assert summary["variants"] == ["ce", "ce+ssp", "ce+pseudo"]
        for prefix in ("ce", "ce+ssp", "ce+pseudo"):
            assert {f"{prefix}/{k}" for k in ("balanced_acc", "many", "medium", "few")} <= set(summary)
            assert len(summary[f"{prefix}/per_class_acc"]) == 10
        labelling = "ce+pseudo.pseudolabel"
        assert 0 <= summary[f"{labelling}/reference_accuracy"] <= 1
        assert summary["ce+pseudo/pseudo_accuracy"] == summary[f"{labelling}/reference_accuracy"]
        assert len(summary[f"{labelling}/per_class_precision"]) == 10
        assert summary["ce+pseudo/pseudo_kept"] == pool and summary["ce+pseudo/train_size"] == 199 + pool
        assert {"ce+pseudo/train/loss", "ce+pseudo/figures/confusion/path", f"{labelling}/figures/pseudo_labels/path",
                "ce/figures/per_class/path"} <= run["history"]
        # the curves of SSP and the base classifier are in the run that trained them (the first of each seed)
        assert ({"ce+ssp.ssp/train/loss", "ce/train/loss"} <= run["history"]) == (label in labels[:2])
        assert summary == {**summary, **read_json(out / "runs/pipeline" / label / "summary.json")}

    swept, records = local_records(out)
    paths = write_report(tmp_path / "report", "tiny", swept, records)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [(r["data.pool.relevance"], r["n"]) for r in rows] == [("0.5", "2"), ("1.0", "2")]
    base = [read_json(out / "runs/pipeline" / label / "summary.json")["ce/balanced_acc"] for label in labels[:2]]
    assert float(rows[0]["ce/balanced_acc_mean"]) == pytest.approx(50 * sum(base))
    assert "| 0.5 | 2 |" in paths["markdown"].read_text()
    assert paths["plot/data.pool.relevance"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the offline wandb runs, read as the wandb API gives runs, make the same table
    runs = [read_offline_run(out / "runs/pipeline" / label) for label in labels]
    from_wandb = records_from_runs(sweep.parameters, [(run["config"], run["summary"]) for run in runs])
    assert aggregate(*from_wandb) == aggregate(swept, records)

    from imbsemi.cli.main import main
    assert main(["report", str(out)]) == 0
    assert "| 0.5 | 2 |" in capsys.readouterr().out and (out / "sweep_report.csv").is_file()
    assert main(["sweep", str(sweep.path), "--out", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "4 points of" in listing and listing.count("  done  ") == 4
    assert "--data.pool.relevance=1.0 --seed=1" in listing


@pytest.mark.slow
def test_parallel_points_share_a_stage_through_the_lock(tmp_path: Path) -> None:
    """Two processes that need the same SSP and base classifiers (one seed, two relevance values) train
    them once: the second waits for the first and reuses its run."""
    sweep = read_sweep(write_sweep(tmp_path, {"data.pool.relevance": {"values": [0.5, 1.0]}, "seed": {"value": 0},
                                              "logger.wandb": {"value": None}}))
    result = run_sweep(sweep, tmp_path / "out", jobs=2)
    assert sorted(result.ran) == ["relevance=0.5", "relevance=1.0"]
    reused = [read_json(tmp_path / "out/runs/pipeline" / label / "metrics.json")["stages"]["ce+ssp.ssp"]["reused"]
              for label in result.ran]
    assert sorted(reused) == [False, True]
    assert len([p for p in (tmp_path / "out/stages/ssp").iterdir() if p.is_dir() and p.name != ".locks"]) == 1
