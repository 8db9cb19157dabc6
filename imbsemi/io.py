"""Atomic file writes, hashing and provenance records."""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import platform
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


from imbsemi.errors import DataError, DiskFullError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # disk full, quota exceeded, file-size limit


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temp file beside ``path``; on success rename it over ``path``, else delete it (an
    existing ``path`` is then untouched).

    Raises:
        DiskFullError: the disk, a quota or a file-size limit ran out while writing.
    """
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
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            kept = f"the previous {path.name} is intact" if path.exists() else "nothing was written"
            raise DiskFullError(f"no room to write {path} ({os.strerror(err.errno)}); {kept}; free some space "
                                f"and run the same command again (a stage resumes from its last checkpoint)") from err
        raise


def require_free_space(folder: Path, needed: int, what: str) -> None:
    """Raise DiskFullError unless the file system of ``folder`` has ``needed`` bytes free for ``what``."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskFullError(f"{folder} has {_mib(free)} free; {what} needs {_mib(needed)}; free some space and "
                            f"run the same command again (a stage resumes from its last checkpoint)")


def _mib(size: int) -> str:
    return f"{size / 2 ** 20:.1f} MiB"


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically, after checking that the disk has room for it (serialised in
    memory first: torch reports a failed write to a file only as an opaque RuntimeError)."""
    import torch

    path, buffer = Path(path), io.BytesIO()
    torch.save(obj, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    require_free_space(path.parent, buffer.getbuffer().nbytes, f"writing {path.name}")
    with atomic_write(path) as handle:
        handle.write(buffer.getbuffer())


@contextmanager
def exclusive(path: str | os.PathLike, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block: processes that
    would work on the same thing (e.g. a stage shared by parallel sweep runs) take turns. It is a POSIX
    record lock, owned by this process alone: it dies with it, and the processes it forks (DataLoader
    workers, which may outlive a killed run for a moment) do not hold it.

    Raises:
        BlockingIOError: ``wait`` is false and another process holds the lock.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except PermissionError as err:  # some systems report a held lock as EACCES
            raise BlockingIOError(err.errno, err.strerror, str(path)) from err
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path``, atomically (parent folders created)."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


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
    """Parse a JSON file; a file that is not JSON (e.g. cut short) is a DataError naming it."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON (truncated or edited?): {err}") from err


def read_npz(path: Path, what: str) -> dict[str, Any]:
    """All arrays of the .npz ``path`` (no pickles), with a clear error for a missing, empty,
    truncated or foreign file."""
    import numpy as np  # lazily, as torch below: loading a config imports neither

    if not path.is_file():
        raise DataError(f"{what} file {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"{what} file {path} is empty (0 bytes); expected an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{what} file {path} is truncated or not an .npz archive: {err}") from err
