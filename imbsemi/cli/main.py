"""`imbsemi <command>`: pseudolabel, demo, pipeline, sweep, sweep-report, evaluate, pretrained, report, data,
config."""
from __future__ import annotations

import sys
from typing import Callable, Sequence

from imbsemi.cli import config, data, evaluate, pipeline, pretrained, pseudolabel, report, sweep
from imbsemi.errors import user_errors_to_exit

COMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "pseudolabel": (pseudolabel.main, "pseudo-label the unlabeled pool with a classifier checkpoint"),
    "demo": (pipeline.demo_main, "the pipeline on the shipped quickstart config (digits), with a comparison table"),
    "pipeline": (pipeline.pipeline_main, "pipeline --config FILE: stage 1 -> 2 -> 3 from one config, reusing "
                                         "finished stages"),
    "sweep": (sweep.main, "sweep FILE [-j N] [--dry-run]: a wandb sweep file's points run locally, shared "
                          "stages once, finished points skipped"),
    "sweep-report": (sweep.report_main, "sweep-report DIR | --wandb ID: mean ± sd per swept value, tables and "
                                        "plots"),
    "evaluate": (evaluate.main, "evaluate --config FILE checkpoint=PATH: test a classifier checkpoint (any layout), "
                                "no training"),
    "pretrained": (pretrained.main, "pretrained list | inspect FILE | convert SRC DST | fetch NAME: released "
                                    "checkpoints"),
    "report": (report.main, "report RUN_DIR...: a markdown table comparing the test metrics of runs"),
    "data": (data.main, "data summary|shards --config FILE: per-class counts of the splits a config builds; "
                        "litdata shards of a split-file training set"),
    "config": (config.main, "config show FILE [key=value ...]: the resolved config after base: and overrides"),
}


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: imbsemi <command> [--config FILE] [key=value ...]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<12} {help_text}")
        print("\n`imbsemi <command> --help` lists the command's config keys.")
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"error: unknown command {args[0]!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return COMMANDS[args[0]][0](args[1:])
