"""One DDP rank of a test run (started by torchrun): records in ``$IMBSEMI_WRITES_LOG/rank<RANK>.txt``
every file this process opens for writing or renames (Python audit events), then runs a command's main
(``module:function`` as the first argument) on the remaining arguments."""
import importlib
import os
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
record = open(os.path.join(os.environ["IMBSEMI_WRITES_LOG"], f"rank{os.environ['RANK']}.txt"), "w", buffering=1)


def audit(event: str, args: tuple) -> None:
    if event == "open" and (any(c in str(args[1] or "") for c in "wax+") or (args[2] or 0) & WRITE_FLAGS):
        record.write(f"{args[0]}\n")
    elif event == "os.rename":
        record.write(f"{args[1]}\n")


sys.addaudithook(audit)
module, function = sys.argv[1].split(":")
raise SystemExit(getattr(importlib.import_module(module), function)(sys.argv[2:]))
