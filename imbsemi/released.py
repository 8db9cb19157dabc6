"""The registry of released checkpoints (``pretrained/registry.yaml``, installed with the package, plus
the entries of ``$IMBSEMI_REGISTRY``, a file of the same form, e.g. a lab's own): ``pretrained:NAME``
works wherever a checkpoint path does; files with a URL are downloaded once, with a sha256 check, into
the cache (``$IMBSEMI_CACHE``, default ``~/.cache/imbsemi``)."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from imbsemi.errors import CheckpointError
from imbsemi.io import atomic_write, sha256_file

PREFIX = "pretrained:"
REQUIRED = ("name", "file", "url", "sha256", "arch", "layout", "stage", "dataset", "rho", "metric")


def registry_folder() -> Path:
    """The pretrained folder installed with the package (the top-level pretrained/ in an editable install)."""
    return Path(str(resources.files("imbsemi") / "pretrained"))


def registry() -> list[dict[str, Any]]:
    """Every entry of the shipped ``registry.yaml`` and of ``$IMBSEMI_REGISTRY``, checked for the required
    keys; a relative ``file`` of the extra registry is relative to that file's folder."""
    entries = _read(registry_folder() / "registry.yaml")
    extra = os.environ.get("IMBSEMI_REGISTRY")
    if extra:
        entries += [{**e, "file": e["file"] and str(Path(extra).parent / e["file"])} for e in _read(Path(extra))]
    return entries


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        entries = yaml.safe_load(path.read_text())["checkpoints"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise CheckpointError(f"registry {path}: cannot read a `checkpoints:` list ({err})") from err
    for entry in entries:
        absent = [key for key in REQUIRED if key not in entry]
        if absent:
            raise CheckpointError(f"registry {path}: entry {entry.get('name')!r} lacks {', '.join(absent)}")
    return entries


def find(name: str) -> dict[str, Any]:
    """The registry entry ``name``.

    Raises:
        CheckpointError: no such entry; the message lists the names.
    """
    entries = {entry["name"]: entry for entry in registry()}
    if name not in entries:
        raise CheckpointError(f"pretrained:{name}: no such checkpoint in the registry; known: {', '.join(entries)}")
    return entries[name]


def cache_dir() -> Path:
    return Path(os.environ.get("IMBSEMI_CACHE", Path.home() / ".cache" / "imbsemi")) / "pretrained"


def local_path(entry: dict[str, Any]) -> Path:
    """Where the entry's file is: in the pretrained folder (shipped) or in the cache (downloaded)."""
    if entry["file"]:
        return registry_folder() / entry["file"]
    return cache_dir() / f"{entry['name']}.pth"


def resolve_checkpoint(spec: str | Path) -> Path:
    """The file of a checkpoint given as a path or as ``pretrained:NAME``.

    Raises:
        CheckpointError: the file does not exist; for a registry name not downloaded yet, how to get it.
    """
    text = str(spec)
    if not text.startswith(PREFIX):
        if not Path(text).is_file():
            raise CheckpointError(f"checkpoint {text} does not exist")
        return Path(text)
    entry = find(text[len(PREFIX):])
    path = local_path(entry)
    if not path.is_file():
        raise CheckpointError(f"{text} is not downloaded: run `imbsemi pretrained fetch {entry['name']}` (needs "
                              f"the network; {entry['url']}) or put the file at {path}")
    return path


def fetch(name: str, url: str | None = None) -> Path:
    """Download the entry ``name`` (from ``url`` if given, e.g. a mirror or ``file://``) into the cache,
    check its sha256 when the registry has one, and return its path; a file already there is checked
    and kept.

    Raises:
        CheckpointError: the download fails (offline, bad URL) or the sha256 differs; nothing is left
            at the cache path then.
    """
    entry = find(name)
    path = local_path(entry)
    if path.is_file():
        _check_sha256(entry, path)
        return path
    source = url or entry["url"]
    if not source:
        raise CheckpointError(f"pretrained:{name} has no URL to download from")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(source, timeout=60) as response, atomic_write(path) as handle:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                handle.write(chunk)
            if entry["sha256"] and digest.hexdigest() != entry["sha256"]:
                raise CheckpointError(f"pretrained:{name}: {source} has sha256 {digest.hexdigest()}, the registry "
                                      f"says {entry['sha256']}; not saved")
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise CheckpointError(f"cannot download pretrained:{name} from {source}: {err}; offline? get the file by "
                              f"other means and put it at {path}") from err
    return path


def _check_sha256(entry: dict[str, Any], path: Path) -> None:
    if entry["sha256"] and sha256_file(path) != entry["sha256"]:
        raise CheckpointError(f"pretrained:{entry['name']}: {path} has sha256 {sha256_file(path)}, the registry says "
                              f"{entry['sha256']}; delete it and fetch again")
