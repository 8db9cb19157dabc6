"""`ssp_pretrain`: stage 1, self-supervised pre-training on the labeled images without their labels."""
from __future__ import annotations

from typing import Sequence

from imbsemi.cli.common import parse_config, report
from imbsemi.config import SSPConfig
from imbsemi.errors import user_errors_to_exit
from imbsemi.stages import run_folder, run_ssp


@user_errors_to_exit
def main(argv: Sequence[str] | None = None) -> int:
    config, stem = parse_config(SSPConfig, "ssp_pretrain", "Self-supervised pre-training (stage 1).", argv)
    result = run_ssp(config, run_folder(config, "ssp", stem))
    scores = {k: v for k, v in result.metrics.items() if k != "best_checkpoint"}
    report(f"ssp_pretrain: {config.method.name} {scores}; backbone -> {result.paths['backbone']}")
    return 0


if __name__ == "__main__":  # torchrun -m imbsemi.cli.ssp_pretrain ...
    raise SystemExit(main())
