"""`imbsemi <command>`: one command per stage (finetune, ssp_pretrain, pseudolabel, evaluate, pipeline) and the
tools: demo, sweep, sweep-report, pretrained, report, diagnose, data, config."""
from __future__ import annotations

import sys
from typing import Callable, Sequence

from imbsemi.cli import config, data, diagnose, pretrained, report, sweep
from imbsemi.cli.stage import stage_main
from imbsemi.errors import user_errors_to_exit
from imbsemi.stages import STAGES

# the commands besides one per stage of STAGES
TOOLS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "demo": (lambda argv: stage_main(STAGES["pipeline"], "imbsemi demo", argv, "quickstart.yaml"),
             "the pipeline on the shipped quickstart config (digits), with a comparison table"),
    "sweep": (sweep.main, "sweep FILE [-j N] [--dry-run]: a wandb sweep file's points run locally, shared "
                          "stages once, finished points skipped"),
    "sweep-report": (sweep.report_main, "sweep-report DIR | --wandb ID: mean ± sd per swept value, tables and "
                                        "plots"),
    "pretrained": (pretrained.main, "pretrained list | inspect FILE | convert SRC DST | fetch NAME: released "
                                    "checkpoints"),
    "report": (report.main, "report RUN_DIR...: a markdown table comparing the test metrics of runs"),
    "data": (data.main, "data summary|shards --config FILE: per-class counts of the splits a config builds; "
                        "litdata shards of a split-file training set"),
    "diagnose": (diagnose.main, "diagnose RUN_DIR... [--k K]: per class, training count, test recall and overlap "
                                "in the run's feature space (size or overlap?): table and plot"),
    "config": (config.main, "config show FILE [key=value ...]: the resolved config after base: and overrides"),
}


def commands() -> dict[str, tuple[Callable[[Sequence[str]], int], str]]:
    """Command name -> (main, one-line help): one per stage of ``STAGES``, then the tools."""
    stages = {stage.command_name: ((lambda argv, stage=stage: stage_main(stage, f"imbsemi {stage.command_name}",
                                                                         argv)), stage.description)
              for stage in STAGES.values()}
    return {**stages, **TOOLS}


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    args, known = list(sys.argv[1:] if argv is None else argv), commands()
    if not args or args[0] in ("-h", "--help"):
        print("usage: imbsemi <command> [--config FILE] [key=value ...]\n\ncommands:")
        for name, (_, help_text) in known.items():
            print(f"  {name:<12} {help_text}")
        print("\n`imbsemi <command> --help` lists the command's config keys.")
        return 0 if args else 2
    if args[0] not in known:
        print(f"error: unknown command {args[0]!r}; commands: {', '.join(known)}", file=sys.stderr)
        return 2
    return known[args[0]][0](args[1:])
