"""User-facing errors. Each names the file, key or value at fault and what was expected."""
from __future__ import annotations

import functools
import sys
from typing import Callable, Sequence


class ImbsemiError(Exception):
    """Base class: a user mistake the CLIs report in one line, without a traceback."""


class ConfigError(ImbsemiError):
    """A config key, type or value is not allowed."""


class DataError(ImbsemiError):
    """A data file or a requested split cannot be built as asked."""


class CheckpointError(ImbsemiError):
    """A checkpoint file cannot be read or does not fit the model."""


def user_errors_to_exit(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a command's ``main(argv) -> status``: an ImbsemiError becomes ``error: ...`` on stderr
    with exit status 2 (no traceback), Ctrl-C ``interrupted`` with status 130."""
    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            return main(argv)
        except ImbsemiError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return wrapper
