"""User sources files: point built-in sources at local files, and define new ones.

A YAML file (passed as ``--sources-file`` or listed in ``$CALRAY_SOURCES``)::

    sources:
      gsm8k:                          # a built-in: read these files instead of the hub
        files: data/gsm8k/train.jsonl # relative to this YAML file; ~ and $VARS expand
      wiki-sample:                    # a new source
        dimension: general
        files: [data/wiki_demo.txt]
        text_unit: line               # text files: line | paragraph | document
        sampling: random-window
      metamath-backward:
        dimension: math
        files: data/GSM8K_Backward.jsonl
        fields: [question, inv_question_pred_answer]
        warning: overlaps GSM8K test

Keys of an entry are those of ``SourceEntry``; an unknown key is an error. An entry for a
registered source overrides only the keys it gives.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from calray.config import StrictModel, read_yaml_mapping, validate
from calray.data.loading import infer_format
from calray.data.sources import (
    _SOURCES,
    Dimension,
    FileFormat,
    FileOrigin,
    HubOrigin,
    SamplingMethod,
    Source,
    TextUnit,
    register_source,
)
from calray.errors import CalrayError


class HubEntry(StrictModel):
    path: str
    name: str | None = None
    split: str = "train"
    data_files: str | list[str] | None = None
    revision: str | None = None
    streaming: bool = False
    max_documents: int | None = Field(default=None, ge=1)


class SourceEntry(StrictModel):
    """One source in a sources file; every key is optional when overriding a registered source."""

    dimension: Dimension | None = None
    description: str | None = None
    warning: str | None = None
    files: str | list[str] | None = None
    format: FileFormat | None = None
    text_unit: TextUnit | None = None
    json_field: str | None = None
    hub: HubEntry | None = None
    fields: list[str] | None = None
    template: str | None = None
    separator: str | None = None
    join_with: str | None = None
    sampling: SamplingMethod | None = None

    @field_validator("files")
    @classmethod
    def _non_empty(cls, v: str | list[str] | None) -> str | list[str] | None:
        if v is not None and not v:
            raise ValueError("give at least one file")
        return v


class SourcesFile(StrictModel):
    sources: dict[str, SourceEntry]


def _resolve(path: str, base: Path) -> str:
    expanded = Path(os.path.expandvars(os.path.expanduser(path)))
    return str(expanded if expanded.is_absolute() else (base / expanded).resolve())


def _apply(name: str, entry: SourceEntry, base: Path, current: Source | None) -> Source:
    given = entry.model_dump(exclude_unset=True)
    if current is None:
        if entry.dimension is None or (entry.files is None and entry.hub is None):
            raise CalrayError(
                f"new source {name!r} needs `dimension:` (one of general, commonsense, math, code) "
                "and `files:` or `hub:`"
            )
    changes: dict[str, Any] = {}
    for key in ("dimension", "description", "warning", "template", "separator", "join_with", "sampling"):
        if key in given:
            changes[key] = given[key]
    if "fields" in given:
        changes["fields"] = tuple(given["fields"])
        if "template" not in given:
            changes["template"] = None  # new fields replace the old template's choice of fields
    if entry.hub is not None:
        hub = entry.hub.model_dump()
        if isinstance(hub["data_files"], list):
            hub["data_files"] = tuple(hub["data_files"])
        changes["hub"] = HubOrigin(**hub)
        if entry.files is None:
            changes["files"] = None  # `hub:` alone means: read the hub
    file_keys = {"format", "text_unit", "json_field"} & given.keys()
    file_options = {k: given[k] for k in file_keys}
    if entry.files is not None:  # new files: format etc. inferred afresh unless given
        paths = [entry.files] if isinstance(entry.files, str) else entry.files
        changes["files"] = FileOrigin(paths=tuple(_resolve(p, base) for p in paths), **file_options)
    elif file_options:
        if current is None or current.files is None:
            raise CalrayError(f"source {name!r}: {sorted(file_keys)} given without `files:`")
        changes["files"] = dataclasses.replace(current.files, **file_options)
    if current is None:
        return Source(name=name, **changes)
    if "files" in changes or "hub" in changes:
        changes.setdefault("loader", None)  # a sources file always wins over a Python loader
    return dataclasses.replace(current, **changes)


SOURCES_FILE = "sources.yaml"  # what a directory given as a sources file holds (a generated set's, calray.selfcal)


def load_sources_file(path: str | os.PathLike[str]) -> list[Source]:
    """Parse and validate a sources file into Sources (registered ones overridden), unregistered.

    A directory stands for its ``sources.yaml``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SOURCES_FILE
    data = read_yaml_mapping(path, "sources file")
    parsed = validate(SourcesFile, data, f"sources file {str(path)!r}")
    base = path.resolve().parent
    return [
        _apply(name, entry, base, _SOURCES.get(name) if name in _SOURCES else None)
        for name, entry in parsed.sources.items()
    ]


def use_sources_file(path: str | os.PathLike[str]) -> list[str]:
    """Register every source of a sources file (overriding registered ones); return their names."""
    sources = load_sources_file(path)
    for source in sources:
        register_source(source, replace=True)
    return [s.name for s in sources]


def looks_like_path(name: str) -> bool:
    """Whether a mixture entry names a file or directory rather than a registered source."""
    return os.sep in name or name.startswith(("~", ".")) or (os.altsep is not None and os.altsep in name)


def path_source(path: str | os.PathLike[str]) -> Source:
    """The source a path stands for: a directory with a ``sources.yaml`` of one source (a
    generated set's, ``calray selfcal --out DIR``), registered under its own name; or one file
    (``file_source``). What ``--calib PATH`` and a path in ``--mix`` use."""
    place = Path(os.path.expanduser(path))
    if not place.is_dir():
        return file_source(place)
    if not (place / SOURCES_FILE).is_file():
        raise CalrayError(
            f"directory {str(place)!r} has no {SOURCES_FILE}; give a calibration file, or a directory written by "
            "`calray selfcal --out DIR`"
        )
    names = use_sources_file(place)
    if len(names) != 1:
        raise CalrayError(
            f"{str(place / SOURCES_FILE)!r} defines {len(names)} sources ({', '.join(names)}); a directory used as one "
            "calibration source must define exactly one (or pass it with --sources-file and name the sources in --mix)"
        )
    return _SOURCES.get(names[0])


def file_source(path: str | os.PathLike[str]) -> Source:
    """A one-off source over one local file, registered as ``file:<name>`` for this process.

    This is what ``calray prune --calib FILE`` uses: a plain-text file is one document
    sampled by random windows (SparseGPT's way with WikiText), any other format is records
    (their ``text`` field) packed into windows. Its dimension is nominal ("general").
    """
    file = Path(path)
    if not file.is_file():
        raise CalrayError(f"calibration file {str(file)!r} does not exist; give a .txt, .jsonl, .json, .csv or .parquet file")
    fmt = infer_format([str(file)])
    name = "file:" + re.sub(r"[^a-z0-9_.+-]+", "-", file.name.lower()).strip("-")
    source = Source(
        name=name,
        dimension="general",
        files=FileOrigin(paths=(str(file.resolve()),), text_unit="document" if fmt == "text" else "line"),
        sampling="random-window" if fmt == "text" else "packed",
        description=f"the file {file}",
    )
    return register_source(source, replace=True)
