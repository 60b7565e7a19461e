"""calray's on-disk cache: where it lives, and token windows stored as Arrow IPC files.

The root is the ``cache_dir`` argument, else ``$CALRAY_CACHE``, else ``~/.cache/calray``.
Under it: ``windows/`` (one Arrow file per source stream, see ``calray.data.windows``) and
``datasets/`` (``datasets``' own cache of local files converted to Arrow).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from calray.atomic import atomic_file

_META_KEY = b"calray"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$CALRAY_CACHE``, else ``~/.cache/calray``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("CALRAY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "calray"


def windows_table(windows: np.ndarray, columns: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> pa.Table:
    """An Arrow table whose ``input_ids`` column holds one fixed-size list of int32 per window."""
    n, seqlen = windows.shape  # (windows, seqlen)
    flat = pa.array(np.ascontiguousarray(windows, dtype=np.int32).reshape(-1))
    ids = pa.FixedSizeListArray.from_arrays(flat, seqlen)
    data = {"input_ids": ids, **(columns or {})}
    schema_meta = {_META_KEY: json.dumps(meta or {}, sort_keys=True).encode()}
    return pa.table(data).replace_schema_metadata(schema_meta)


def table_windows(table: pa.Table) -> np.ndarray:
    """The ``(n, seqlen)`` int32 windows of a table written by ``windows_table``."""
    column = table.column("input_ids").combine_chunks()
    seqlen = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, seqlen)


def table_meta(table: pa.Table) -> dict[str, Any]:
    raw = (table.schema.metadata or {}).get(_META_KEY)
    return json.loads(raw) if raw else {}


def write_table(path: str | os.PathLike[str], table: pa.Table) -> None:
    """Write an Arrow IPC file atomically (a reader never sees half a file)."""
    with atomic_file(path) as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()
