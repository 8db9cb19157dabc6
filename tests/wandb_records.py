"""Read an offline wandb run (``run-*.wandb``: LevelDB-log records of wandb's protobuf ``Record``) into
its name, group, config and summary, to check what a run sent without a server."""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK, HEADER = 32768, 7  # LevelDB log: 32 KiB blocks; record header: crc32 (4), length (2), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[bytes]:
    """The payloads of the log file at ``path`` (after its 7-byte ``:W&B`` file header)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    index, out, pending = HEADER, [], b""
    while index + HEADER <= len(data):
        if BLOCK - index % BLOCK < HEADER:  # the block's tail is padding
            index += BLOCK - index % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[index:index + HEADER])
        payload = data[index + HEADER:index + HEADER + length]
        index += HEADER + length
        if kind == FULL:
            out.append(payload)
        elif kind in (FIRST, MIDDLE):
            pending += payload
        elif kind == LAST:
            out.append(pending + payload)
            pending = b""
        else:
            break
    return out


def read_offline_run(run_folder: Path) -> dict[str, Any]:
    """``{"name", "group", "config", "summary", "history"}`` of the latest offline run under
    ``run_folder/wandb`` (history: the set of metric names logged step by step)."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_folder.glob("wandb/latest-run/run-*.wandb")
    run: dict[str, Any] = {"config": {}, "summary": {}, "history": set()}
    for payload in records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(name=record.run.display_name, group=record.run.run_group)
            run["config"].update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "config":
            run["config"].update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            run["history"].update(_key(item) for item in record.history.item)
        elif kind == "summary":
            run["summary"].update({_key(item): json.loads(item.value_json) for item in record.summary.update})
    return run


def _key(item: Any) -> str:
    """An item's key: ``key``, or its ``nested_key`` parts (used for keys with a slash) joined by "/"."""
    return item.key or "/".join(item.nested_key)
