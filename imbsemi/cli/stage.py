"""`imbsemi <stage>`: any stage of the ``STAGES`` table from the command line (parse, run, report)."""
from __future__ import annotations

from typing import Sequence

from pytorch_lightning.utilities import rank_zero_only

from imbsemi.cli.common import parse_config
from imbsemi.stages import run_stage
from imbsemi.stages.stage import Stage


def stage_main(stage: Stage, prog: str, argv: Sequence[str] | None, default_config: str | None = None) -> int:
    """Parse ``--config FILE`` and overrides into ``stage``'s config, run the stage in the run folder
    named after the config file, print the stage's summary (under DDP, once)."""
    config, stem = parse_config(stage.config, prog, stage.description, argv, default_config)
    result = run_stage(stage, config, config_stem=stem)
    if rank_zero_only.rank == 0:  # under DDP rank 0 writes the outputs, and reports them
        print(stage.summary(config, result))
    return 0
