"""User-facing errors. Each names the file, key or value at fault and what was expected."""
from __future__ import annotations

import functools
import signal
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


class DiskFullError(ImbsemiError):
    """The disk (or a quota or file-size limit) has no room for a file a run must write."""


RESUME_HINT = ("interrupted ({signal}): finished stages and the last epoch's checkpoint are kept; run the same "
               "command again to resume")


def _own_message(err: ImbsemiError) -> str:
    """The message of ``err``; raised in a DataLoader worker, torch re-raises it with the worker's
    traceback in the message, whose last line is the original ``module.Class: message``."""
    text = str(err)
    if "Original Traceback" not in text:
        return text
    return text.strip().splitlines()[-1].split(": ", 1)[-1]


def user_errors_to_exit(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a command's ``main(argv) -> status``: an ImbsemiError becomes ``error: ...`` on stderr with
    exit status 2 (no traceback); SIGINT (Ctrl-C) and SIGTERM stop with a line saying how to resume and
    status 130 and 143 (Lightning turns both into a SystemExit during training, status 1 or 0)."""
    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        received: list[int] = []

        def on_sigint(signum: int, frame: object) -> None:
            received.append(signum)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            return main(argv)
        except ImbsemiError as err:
            print(f"error: {_own_message(err)}", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, SystemExit) as stop:
            if isinstance(stop, KeyboardInterrupt) or received:
                print(RESUME_HINT.format(signal="SIGINT"), file=sys.stderr)
                return 130
            if type(stop).__name__ == "SIGTERMException":  # Lightning's, raised at the next step
                print(RESUME_HINT.format(signal="SIGTERM"), file=sys.stderr)
                return 143
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
    return wrapper
