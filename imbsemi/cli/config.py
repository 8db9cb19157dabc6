"""`imbsemi config show CONFIG [key=value ...]`: the resolved config after `base:` and overrides."""
from __future__ import annotations

import argparse
from typing import Sequence

import yaml

from imbsemi.config_files import to_dict
from imbsemi.stages.table import load_stage_config


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="imbsemi config", allow_abbrev=False,
                                     description="Print a config of any stage as it is resolved: its base: chain "
                                                 "merged, overrides applied, every default filled in.")
    parser.add_argument("action", choices=["show"])
    parser.add_argument("config", help="YAML config file, a path or the name of a shipped config")
    args, overrides = parser.parse_known_args(argv)
    config = load_stage_config(args.config, overrides)
    print(f"# {type(config).__name__} from {args.config}")
    print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
    return 0
