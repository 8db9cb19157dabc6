"""Config field docs and the --help key reference, loading a config of any stage, shipped configs by name."""
from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Iterator

import pytest

from imbsemi.config import (KNNConfig, DataConfig, FinetuneConfig, PipelineConfig, PseudolabelConfig, SemiConfig,
                            SSPConfig)
from imbsemi.config_files import load_config, resolve_config_path, shipped_configs, shipped_configs_dir
from imbsemi.dataclass_yaml import describe_schema, first_doc_line, setting
from imbsemi.errors import ConfigError
from imbsemi.stages.table import STAGES, load_stage_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def leaf_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """(dotted key, field) of every key describe_schema lists; sections recurse, optional sections too."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from leaf_fields(hint, f"{prefix}{f.name}.")
            continue
        yield prefix + f.name, f
        section = next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
        if section is not None:
            yield from leaf_fields(section, f"{prefix}{f.name}.")


def expected_default(f: dataclasses.Field) -> str:
    """The default as YAML writes it, spelled out here rather than through yaml.safe_dump."""
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        if value and isinstance(value, dict):  # a pipeline's variants: section lists by name
            return "{" + ", ".join(f"{name}: [{', '.join(chain)}]" for name, chain in value.items()) + "}"
        assert value in ({}, [])  # the other factory defaults of leaf keys: empty mappings and lists
        return "{}" if value == {} else "[]"
    if f.default is dataclasses.MISSING:
        return "required"
    if f.default is None or isinstance(f.default, bool):
        return {None: "null", True: "true", False: "false"}[f.default]
    return str(f.default)


def cells(lines: list[str], key: str) -> list[list[str]]:
    """The [key, type, default, doc] cells of the lines for ``key``."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines if line.startswith("  ")]
    return [row for row in rows if row[0] == key]


@pytest.mark.parametrize("cls", [stage.config for stage in STAGES.values()], ids=list(STAGES))
def test_every_key_has_a_doc_and_one_help_line_with_its_default(cls: type) -> None:
    lines = describe_schema(cls)
    keys = list(leaf_fields(cls))
    assert len(keys) >= 30
    for key, f in keys:
        doc = f.metadata.get("doc")
        assert doc and "\n" not in doc, key
        found = cells(lines, key)
        assert len(found) == 1, key
        assert found[0][2:] == [expected_default(f), doc], key
    assert len([line for line in lines if line.startswith("  ")]) == len(keys)


def test_section_fields_have_docs_too() -> None:
    def sections(cls: type) -> Iterator[dataclasses.Field]:
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            if dataclasses.is_dataclass(hint):
                yield f
                yield from sections(hint)

    found = list(sections(PipelineConfig))
    # data, pool, augment, model, logger, ssp (4), finetune (7), pseudolabel, semi (4)
    assert len(found) == 21
    assert all(f.metadata["doc"] for f in found)


def test_help_lines() -> None:
    lines = describe_schema(FinetuneConfig)
    assert cells(lines, "data.rho") == [
        ["data.rho", "float", "10.0", "imbalance ratio n_max / n_min of the labeled set"]]
    assert cells(lines, "data.n_max")[0][:3] == ["data.n_max", "int | null", "null"]
    assert cells(lines, "data.imb_type")[0][:3] == ["data.imb_type", "one of exp, step, uniform", "exp"]
    assert cells(lines, "shot_thresholds")[0][:3] == ["shot_thresholds", "list[float] | null", "null"]
    assert cells(lines, "model.kwargs")[0][:3] == ["model.kwargs", "mapping", "{}"]
    assert cells(lines, "data.pool.relevant")[0][:3] == ["data.pool.relevant", "section | str | null", "null"]
    assert cells(lines, "data.pool.relevant.name")[0][:3] == ["data.pool.relevant.name", "str", "required"]
    assert "data: Which images, and how the long-tailed labeled set, validation split and pool are drawn." in lines
    # Columns line up: every doc of a short type and default starts at the same place.
    rho_line = next(line for line in lines if line.startswith("  data.rho "))
    assert rho_line.index("imbalance ratio") == lines[0].index("random seed")
    assert describe_schema(DataConfig, "data.")[0].startswith("  data.source ")


def test_knn_section() -> None:
    lines = describe_schema(SSPConfig)
    assert "knn: " + first_doc_line(KNNConfig) in lines
    assert [row[:3] for key in ("knn.every", "knn.k", "knn.t", "knn.layer") for row in cells(lines, key)] == [
        ["knn.every", "int", "10"], ["knn.k", "int", "20"], ["knn.t", "float", "0.1"],
        ["knn.layer", "str | null", "null"]]
    assert cells(describe_schema(PipelineConfig), "ssp.knn.k")[0][:3] == ["ssp.knn.k", "int", "20"]
    with pytest.raises(ConfigError, match=r"^command-line override knn.every: knn.every = 0: must be >= 1$"):
        load_config(SSPConfig, None, ["knn.every=0"])
    with pytest.raises(ConfigError, match=r"^command-line override knn.t: knn.t = 0: must be > 0$"):
        load_config(SSPConfig, None, ["knn.t=0"])
    assert load_config(SSPConfig, None, ["knn.layer=layer2"]).knn == KNNConfig(layer="layer2")


def test_setting_needs_a_doc() -> None:
    with pytest.raises(TypeError, match="needs a doc"):
        setting(1)
    assert setting(factory=KNNConfig).metadata["doc"] == first_doc_line(KNNConfig)


@pytest.mark.parametrize("relative, cls", [
    ("ssp/rotation_digits.yaml", SSPConfig), ("finetune/ce_digits.yaml", FinetuneConfig),
    ("pseudolabel/digits.yaml", PseudolabelConfig), ("quickstart.yaml", PipelineConfig),
    ("semi/digits_reversed.yaml", SemiConfig),
    ("digits_data.yaml", FinetuneConfig)])
def test_load_stage_config_picks_the_stage(relative: str, cls: type) -> None:
    config = load_stage_config(CONFIGS / relative, [])
    assert type(config) is cls
    assert config == load_config(cls, CONFIGS / relative)


def test_load_stage_config_overrides_and_errors(tmp_path: Path) -> None:
    assert type(load_stage_config(CONFIGS / "digits_data.yaml", ["method.name=simclr"])) is SSPConfig
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("base: " + str(CONFIGS / "digits_data.yaml") + "\nmethod: rotation\nloss: {name: ce}\nfoo: 1\n")
    with pytest.raises(ConfigError) as err:
        load_stage_config(mixed, [])
    assert str(err.value) == (f"{mixed}: no stage config takes all its top-level keys; method (finetune, ssp, "
                              "semi), loss (finetune), foo (no stage); a config is one of the stage kinds finetune, "
                              "ssp, pseudolabel, semi, evaluate, pipeline")
    expected = r"^command-line override data.rho: data.rho = 0.5: must be a finite number >= 1$"
    with pytest.raises(ConfigError, match=expected):
        load_stage_config(None, ["data.rho=0.5"])


def test_shipped_configs_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shipped_configs_dir().resolve() == CONFIGS.resolve()  # editable install: the symlink
    path = resolve_config_path("ssp/rotation_digits.yaml")
    assert path == shipped_configs_dir() / "ssp/rotation_digits.yaml" and path.is_file()
    by_name = load_config(SSPConfig, "ssp/rotation_digits.yaml")
    assert by_name == load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml")
    (tmp_path / "quickstart.yaml").write_text("seed: 3\n")  # a local file wins over the shipped one
    assert resolve_config_path("quickstart.yaml") == Path("quickstart.yaml")
    assert load_stage_config("quickstart.yaml", []).seed == 3

    names = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml"))
    assert shipped_configs() == names and {"quickstart.yaml", "ssp/rotation_digits.yaml"} <= set(names)
    with pytest.raises(ConfigError) as err:
        resolve_config_path("ssp/nope.yaml")
    assert str(err.value) == ("config file ssp/nope.yaml does not exist (looked in the current folder and in the "
                              f"shipped configs: {shipped_configs_dir()}); shipped configs: {', '.join(names)}")
