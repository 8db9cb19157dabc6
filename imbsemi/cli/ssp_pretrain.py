"""`ssp_pretrain`: stage 1, self-supervised pre-training on the labeled images without their labels."""
from __future__ import annotations

from typing import Sequence

from imbsemi.cli.stage import stage_main
from imbsemi.errors import user_errors_to_exit
from imbsemi.stages import STAGES


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    return stage_main(STAGES["ssp"], "ssp_pretrain", argv)


if __name__ == "__main__":  # torchrun -m imbsemi.cli.ssp_pretrain ...
    raise SystemExit(main())
