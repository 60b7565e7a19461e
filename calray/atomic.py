"""Outputs that appear whole or not at all, and output locations checked before the work.

A kill, a full disk or an exception half-way through a write must never leave a truncated
file or a model directory mixing old and new files where a reader expects a finished one.
Every file calray writes for a user goes through a temporary sibling renamed into place
(``os.replace`` is atomic within a filesystem); a model directory is assembled in a hidden
sibling directory and renamed into place once complete.

    check_output_dir("pruned", overwrite=False, what="--out")   # before any expensive work
    with atomic_dir("pruned", overwrite=False) as tmp:
        model.save_pretrained(tmp)                               # "pruned" appears only when this ends
    write_atomic("scores.json", json.dumps(scores))
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from calray.errors import CalrayError


def _sibling(path: Path, kind: str) -> Path:
    """A hidden name beside ``path``, unique to this process and call (same filesystem)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.{kind}")


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` only when the block ends without an error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "tmp")
    try:
        with open(tmp, "xb") as f:  # the umask's permissions, as a plain open gives
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """``data`` (text is written as UTF-8) to ``path`` through a temporary sibling and a rename."""
    with atomic_file(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A fresh directory to fill that replaces ``path`` only when the block ends without an error.

    An existing ``path`` is kept untouched on error; on success it is replaced (with
    ``overwrite``, else a non-empty one is refused). The old directory is renamed aside before
    the new one is renamed in, so a kill between the two leaves no ``path`` rather than a mix.
    """
    target = Path(path)
    check_output_dir(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "tmp")
    tmp.mkdir()
    old: Path | None = None
    try:
        yield tmp
        if target.exists():
            old = _sibling(target, "old")
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)  # the new one never arrived: put the old one back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_writable(path: str | os.PathLike[str], *, what: str = "output") -> None:
    """Fail now, in one line, if ``path`` (a file or directory to create or replace) cannot be
    written: its nearest existing ancestor must be a directory this process can create files
    in. Probes by creating and removing a hidden file, which also catches read-only mounts and
    root's writes to locations no one may write; creates nothing else."""
    target = Path(path).expanduser().absolute()
    if target.exists() and not (target.is_dir() or target.is_file()):
        raise CalrayError(f"{what} {str(path)!r} is neither a file nor a directory; give a new path")
    parent = target if target.is_dir() else target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CalrayError(f"{what} {str(path)!r} cannot be created: {str(parent)!r} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".calray-write-check-", dir=parent)
    except OSError as exc:
        raise CalrayError(
            f"{what} {str(path)!r} is not writable ({exc.strerror or exc} in {str(parent)!r}); choose a writable location"
        ) from None
    os.close(fd)
    os.unlink(probe)
    if target.is_file() and not os.access(target, os.W_OK):
        raise CalrayError(f"{what} {str(path)!r} exists and is read-only; choose another path or make it writable")


def check_output_dir(path: str | os.PathLike[str], *, overwrite: bool, what: str = "output directory") -> None:
    """``path`` can become a model directory: writable, not a file, and empty unless ``overwrite``."""
    target = Path(path).expanduser()
    if target.is_file():
        raise CalrayError(f"{what} {str(path)!r} is a file; give a directory path")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise CalrayError(
            f"{what} {str(path)!r} is not empty; pass --overwrite to replace it, or give a new directory"
        )
    check_writable(target, what=what)
