"""Atomic file writes, hashing and provenance records."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from imbsemi.errors import DataError


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temp file beside ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def exclusive(path: str | os.PathLike, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block: processes that
    would work on the same thing (e.g. a stage shared by parallel sweep runs) take turns. The lock
    dies with its process, so a killed run leaves no stale lock.

    Raises:
        BlockingIOError: ``wait`` is false and another process holds the lock.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)
        handle.write("\n")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_arrays(*arrays: Any) -> str:
    """Hex sha256 over the bytes, dtypes and shapes of numpy arrays (or strings)."""
    digest = hashlib.sha256()
    for array in arrays:
        if isinstance(array, str):
            digest.update(array.encode())
            continue
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers."""
    import lightly
    import numpy
    import pytorch_lightning
    import torch
    import torchvision

    import imbsemi

    return {
        "python": platform.python_version(),
        "imbsemi": imbsemi.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "lightly": lightly.__version__,
        "numpy": numpy.__version__,
    }


def read_pickle(path: Path, what: str) -> object:
    """Unpickle ``path`` (latin1, as the CIFAR batches need), with a clear error for a bad file."""
    if not path.is_file():
        raise DataError(f"{what} file {path} does not exist")
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            IndexError, MemoryError) as err:
        raise DataError(f"{what} file {path} is truncated or not a pickle: {err!r}") from err


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file."""
    with open(path) as handle:
        return json.load(handle)
