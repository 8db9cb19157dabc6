"""`finetune`: stages 2 and 3, a classifier on the labeled set (optionally from an SSP backbone),
or on labeled + pseudo-labeled images (self-training); also cRT and tau-normalisation."""
from __future__ import annotations

from typing import Sequence

from imbsemi.cli.stage import stage_main
from imbsemi.errors import user_errors_to_exit
from imbsemi.stages import STAGES


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    return stage_main(STAGES["finetune"], "finetune", argv)


if __name__ == "__main__":  # torchrun -m imbsemi.cli.finetune ...
    raise SystemExit(main())
