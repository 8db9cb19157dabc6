"""What every CLI shares: argv -> config (with the schema in --help) and progress messages on stderr."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence, TypeVar

from imbsemi.config import CommonConfig
from imbsemi.config_files import load_config
from imbsemi.dataclass_yaml import describe_schema
from imbsemi.tracking import named_by_overrides

C = TypeVar("C", bound=CommonConfig)
OVERRIDES_HELP = "overrides: dotted keys after the options, e.g. data.rho=50 --optim.lr=0.05 (the form wandb passes)"


class CurrentStderr(logging.StreamHandler):
    """Writes each message to ``sys.stderr`` as it is at that moment (a test or a caller may swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def show_progress() -> None:
    """Send the stages' progress messages (logger ``imbsemi``) to stderr, once per process."""
    logger = logging.getLogger("imbsemi")
    if not any(isinstance(handler, CurrentStderr) for handler in logger.handlers):
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def config_parser(cls: type, prog: str, description: str, default_config: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with ``--config`` whose --help lists every config key of ``cls`` with its
    type, default and meaning."""
    epilog = "\n".join([OVERRIDES_HELP, "", "config keys:", *describe_schema(cls)])
    parser = argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=default_config, required=default_config is None,
                        help="YAML config file, a path or the name of a shipped config (e.g. ssp/rotation_digits.yaml)"
                        + (f"; default: {default_config}" if default_config else ""))
    return parser


def parse_config(cls: type[C], prog: str, description: str, argv: Sequence[str] | None,
                 default_config: str | None = None) -> tuple[C, str]:
    """Parse ``--config FILE`` plus dotted overrides (``key=value`` / ``--key=value`` / ``--key value``).

    Returns the config and the config file's stem (for the run folder name)."""
    args, overrides = config_parser(cls, prog, description, default_config).parse_known_args(argv)
    show_progress()
    config = named_by_overrides(load_config(cls, args.config, overrides), overrides)
    return config, Path(args.config).stem
