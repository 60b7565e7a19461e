"""A sweep directory is trusted input: resuming it unpickles Tune's state (``tuner.pkl``, the
searcher's and trials' state), and a crafted pickle runs code. So ``--resume`` accepts only
a directory calray wrote (its ``calray_sweep.json``) whose every file and folder belongs to
the user resuming it and is writable by no one else (a group-writable one only by your own
group): another user cannot plant or alter one,
and a user who could write there as you could already run code as you. A walk of ``lstat``
calls: cheap, and it holds after a killed driver (a signature would have to be refreshed at
each of Tune's state saves, and a SIGKILL leaves the last save unsigned).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from calray.errors import CalrayError


def check_resumable_dir(sweep_dir: Path, *, marker: str) -> None:
    """Refuse ``sweep_dir`` unless calray wrote it (``marker`` inside) and only you can change it."""
    if not (sweep_dir / marker).is_file():
        raise CalrayError(f"{str(sweep_dir)!r} is not a sweep directory (no {marker}); give the directory a sweep printed")
    uid, gid = os.geteuid(), os.getegid()
    for root, dirs, files in os.walk(sweep_dir):
        for name in [".", *dirs, *files]:
            path = Path(root) / name
            info = path.lstat()
            why = (
                "is a symbolic link" if stat.S_ISLNK(info.st_mode)
                else f"belongs to uid {info.st_uid}, not you ({uid})" if info.st_uid != uid
                else "is writable by other users" if info.st_mode & stat.S_IWOTH
                or (info.st_mode & stat.S_IWGRP and info.st_gid != gid)  # a group of your own is you
                else None
            )
            if why:
                raise CalrayError(
                    f"refusing to resume {str(sweep_dir)!r}: {str(path)!r} {why}; resuming unpickles the directory's "
                    "state, so only a sweep directory you wrote yourself is trusted (start the sweep anew instead)"
                )
