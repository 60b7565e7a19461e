"""Reading a source's records through ``datasets``, and random access to its document texts.

Local files go through ``datasets``' packaged json / csv / parquet / text builders (no
network; compressed files are decompressed by ``datasets``), hub sources through
``datasets.load_dataset(id, config)``. Both end as an Arrow-backed ``datasets.Dataset``,
so sampling can visit documents in a seeded random order and read (and tokenize) only
the ones it needs. Python sources stay a list in memory.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from calray.data.cache import cache_root
from calray.data.sources import FileOrigin, HubOrigin, Record, Source
from calray.errors import CalrayError

log = logging.getLogger(__name__)

_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zstd", ".lz4")
_EXTENSIONS = {
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
    ".text": "text",
}


def infer_format(paths: Sequence[str]) -> str:
    """The ``datasets`` builder for these files, from their extension (compression suffix ignored)."""
    formats = set()
    for path in paths:
        name = path.lower()
        for suffix in _COMPRESSIONS:
            name = name.removesuffix(suffix)
        fmt = _EXTENSIONS.get(os.path.splitext(name)[1])
        if fmt is None:
            raise CalrayError(
                f"cannot tell the format of {path!r} from its extension; known: "
                f"{', '.join(sorted(_EXTENSIONS))} (optionally compressed: {', '.join(_COMPRESSIONS)}); "
                "set `format:` (json, csv, parquet, text) for this source"
            )
        formats.add(fmt)
    if len(formats) > 1:
        raise CalrayError(f"files {list(paths)} mix formats {sorted(formats)}; one source reads one format")
    return formats.pop()


def _offline_hint(source: Source, reason: str) -> str:
    hub = source.hub
    assert hub is not None
    return (
        f"source {source.name!r} reads {hub.path!r} from the Hugging Face hub, which is unreachable ({reason}); "
        f"point it at local files with a sources file such as `sources: {{{source.name}: {{files: /path/to/data.jsonl}}}}` "
        "passed by --sources-file or $CALRAY_SOURCES"
    )


def _load_hub(source: Source, hub: HubOrigin) -> Any:
    import datasets

    data_files = list(hub.data_files) if isinstance(hub.data_files, tuple) else hub.data_files
    kwargs = dict(path=hub.path, name=hub.name, split=hub.split, data_files=data_files, revision=hub.revision)
    try:
        if not hub.streaming:
            return datasets.load_dataset(**kwargs)
        stream = datasets.load_dataset(**kwargs, streaming=True)
        if hub.max_documents:
            stream = stream.take(hub.max_documents)
        return datasets.Dataset.from_list(list(stream))
    except ConnectionError as exc:
        offline = datasets.config.HF_HUB_OFFLINE
        reason = "offline mode: HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set" if offline else str(exc).splitlines()[0]
        raise CalrayError(_offline_hint(source, reason)) from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise CalrayError(
            f"source {source.name!r}: could not load {hub.describe()} from the hub: {str(exc).splitlines()[0]}"
        ) from None


def _load_files(source: Source, files: FileOrigin, cache_dir: Path) -> Any:
    import datasets

    missing = [p for p in files.paths if not (glob.has_magic(p) and glob.glob(p)) and not os.path.isfile(p)]
    if missing:
        raise CalrayError(
            f"source {source.name!r}: file(s) not found: {', '.join(missing)}; fix the paths in your sources file"
        )
    fmt = files.format or infer_format(files.paths)
    options: dict[str, Any] = {}
    if fmt == "text":
        options["sample_by"] = files.text_unit
    if fmt == "json" and files.json_field:
        options["field"] = files.json_field
    try:
        return datasets.load_dataset(
            fmt, data_files=list(files.paths), split="train", cache_dir=str(cache_dir / "datasets"), **options
        )
    except datasets.exceptions.DatasetsError as exc:
        cause = exc.__cause__ or exc
        raise CalrayError(
            f"source {source.name!r}: could not read {', '.join(files.paths)} as {fmt}: {str(cause).splitlines()[0]}"
        ) from None


def load_records(source: Source, *, cache_dir: str | os.PathLike[str] | None = None) -> Sequence[Record]:
    """Every record of ``source``: a ``datasets.Dataset`` (hub, files) or a list (Python)."""
    if source.loader is not None:
        raw = source.loader() if callable(source.loader) else source.loader
        records = [{"text": r} if isinstance(r, str) else r for r in raw]
    elif source.files is not None:
        records = _load_files(source, source.files, cache_root(cache_dir))
    else:
        assert source.hub is not None
        records = _load_hub(source, source.hub)
    if len(records) == 0:
        raise CalrayError(f"source {source.name!r} ({source.describe_origin()}) holds no records")
    return records


class Documents:
    """The document texts of a source, by index, read lazily from its records."""

    def __init__(self, source: Source, records: Sequence[Record]) -> None:
        self.source = source
        self._records: Any = records  # a list, or a datasets.Dataset (gathers a list of indices)
        self._joined: str | None = None
        if source.join_with is not None:
            self._joined = source.join_with.join(self._texts(range(len(records))))

    def __len__(self) -> int:
        return 1 if self._joined is not None else len(self._records)

    def texts(self, indices: Sequence[int]) -> list[str]:
        if self._joined is not None:
            return [self._joined for _ in indices]
        return self._texts(indices)

    def _texts(self, indices: Sequence[int]) -> list[str]:
        if isinstance(self._records, list):
            rows = [self._records[i] for i in indices]
        else:  # datasets.Dataset: one gather for the whole batch, column-wise
            columns = self._records[list(indices)]
            rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        return [self.source.text(row) for row in rows]


def load_documents(source: Source, *, cache_dir: str | os.PathLike[str] | None = None) -> Documents:
    """Random access to ``source``'s document texts (see ``Source.text`` and ``Source.join_with``)."""
    return Documents(source, load_records(source, cache_dir=cache_dir))
