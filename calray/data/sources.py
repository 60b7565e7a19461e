"""Calibration sources: where records come from and how a record becomes text.

A ``Source`` names a corpus, tags it with the capability dimension it is meant to serve
(general / commonsense / code / math), says where its records come from (a Hugging Face
hub dataset, local files, or Python: an in-memory list or a generator function) and how a
record turns into one document of text. Sources live in one registry, so a mixture can
name them (``c4=0.5,gsm8k=0.5``) and a pattern can select a group (``toy:*``).

>>> register_source(Source(name="my:demo", dimension="math", loader=[{"text": "1+1=2"}]))  # doctest: +ELLIPSIS
Source(name='my:demo', ...)
>>> get_source("my:demo").text({"text": "1+1=2"})
'1+1=2'
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import inspect
import json
import logging
import os
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args

from calray.errors import CalrayError
from calray.registry import Registry

log = logging.getLogger(__name__)

Dimension = Literal["general", "commonsense", "math", "code"]  # calray.format.DIMENSION_ORDER
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
SamplingMethod = Literal["random-window", "packed"]
SAMPLING_METHODS: tuple[str, ...] = get_args(SamplingMethod)
FileFormat = Literal["json", "csv", "parquet", "text"]
TextUnit = Literal["line", "paragraph", "document"]

Record = Mapping[str, Any]
Template = Union[str, Callable[[Record], str]]
# Python origin: the records themselves, or a function returning them (called on load).
Loader = Union[Sequence[Union[Record, str]], Callable[[], Iterable[Union[Record, str]]]]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:+-]*$")


def check_source_name(name: str) -> None:
    """A CalrayError unless ``name`` can name a source (lower-case letters, digits and _ . : + -)."""
    if not _NAME.match(name):
        raise CalrayError(
            f"source name {name!r} is not allowed: use lower-case letters, digits and _ . : + - (e.g. 'toy:stories')"
        )


@dataclass(frozen=True)
class HubOrigin:
    """A dataset on the Hugging Face hub, loaded with ``datasets.load_dataset``.

    ``streaming`` sources are too big to download whole: only their first
    ``max_documents`` records are read, and windows are sampled from those.
    """

    path: str
    name: str | None = None
    split: str = "train"
    data_files: str | tuple[str, ...] | None = None
    revision: str | None = None
    streaming: bool = False
    max_documents: int | None = None

    def describe(self) -> str:
        text = self.path + (f" ({self.name})" if self.name else "")
        if self.data_files:
            files = self.data_files if isinstance(self.data_files, str) else ", ".join(self.data_files)
            text += f" [{files}]"
        text += f" {self.split}"
        if self.streaming:
            text += f", first {self.max_documents} docs" if self.max_documents else ", streamed"
        return text


@dataclass(frozen=True)
class FileOrigin:
    """Local files, read through ``datasets``' json / csv / parquet / text builders.

    ``format`` is inferred from the extension (``.jsonl``, ``.json``, ``.csv``,
    ``.parquet``, ``.txt``, each optionally ``.gz`` / ``.bz2`` / ``.xz`` / ``.zst``).
    Text files yield one document per line by default (``text_unit="line"``, which is how
    ``wiki_demo.txt`` stores one article per line); ``"paragraph"`` splits on blank lines
    and ``"document"`` makes the whole file one document (WikiText-style raw text, as
    SparseGPT samples it). Empty documents are always skipped. ``json_field`` selects the
    list of records inside a JSON object (``{"data": [...]}``).
    """

    paths: tuple[str, ...]
    format: FileFormat | None = None
    text_unit: TextUnit = "line"
    json_field: str | None = None

    def describe(self) -> str:
        return ", ".join(self.paths)


@dataclass(frozen=True)
class Source:
    """One calibration corpus.

    Records become text by ``template``: a format string over the record
    (``"{question}\\n{answer}"``, nested keys as ``{question[stem]}``), a function
    ``record -> str``, or (``None``) the non-empty ``fields`` joined by ``separator``.
    ``join_with`` (not None) turns the whole source into a single document, its records'
    texts joined by that string (WikiText's lines, as SparseGPT reads them).

    The origin in use is the first present of ``loader``, ``files``, ``hub``: pointing a
    hub source at local files keeps its hub id for reference but reads the files.
    ``version`` is part of the cache key of a Python loader or template: change it when
    their output changes and their code does not (their source code is hashed too).
    """

    name: str
    dimension: Dimension
    fields: tuple[str, ...] = ("text",)
    template: Template | None = None
    separator: str = "\n\n"
    sampling: SamplingMethod = "packed"
    join_with: str | None = None
    hub: HubOrigin | None = None
    files: FileOrigin | None = None
    loader: Loader | None = field(default=None, repr=False)
    version: str = ""
    description: str = ""
    warning: str = ""

    def __post_init__(self) -> None:
        check_source_name(self.name)
        if self.dimension not in DIMENSIONS:
            raise CalrayError(f"source {self.name!r}: dimension {self.dimension!r} is not one of {DIMENSIONS}")
        if self.sampling not in SAMPLING_METHODS:
            raise CalrayError(f"source {self.name!r}: sampling {self.sampling!r} is not one of {SAMPLING_METHODS}")
        if self.loader is None and self.files is None and self.hub is None:
            raise CalrayError(f"source {self.name!r} has no origin: give it hub=, files= or loader=")
        if isinstance(self.fields, str):  # a lone field name is an easy slip
            object.__setattr__(self, "fields", (self.fields,))

    @property
    def origin(self) -> Literal["python", "local", "hub"]:
        """Where records are read from: ``python`` (loader), ``local`` (files) or ``hub``."""
        if self.loader is not None:
            return "python"
        return "local" if self.files is not None else "hub"

    def describe_origin(self) -> str:
        if self.loader is not None:
            return "python: " + _callable_name(self.loader) if callable(self.loader) else f"python: {len(self.loader)} records"
        if self.files is not None:
            return self.files.describe()
        assert self.hub is not None
        return self.hub.describe()

    def text(self, record: Record) -> str:
        """The document text of one record."""
        if isinstance(record, str):
            return record
        if callable(self.template):
            return self.template(record)
        if isinstance(self.template, str):
            try:
                return string.Formatter().vformat(self.template, (), record)
            except (KeyError, IndexError) as exc:
                raise CalrayError(
                    f"source {self.name!r}: template {self.template!r} needs {exc}, but records have "
                    f"fields {sorted(record)}; fix the template or the source's files"
                ) from None
        missing = [f for f in self.fields if f not in record]
        if missing:
            raise CalrayError(
                f"source {self.name!r}: records lack field(s) {missing} (they have {sorted(record)}); "
                "set `fields:` (or `template:`) for this source in your sources file"
            )
        parts = (str(record[f]).strip() for f in self.fields if record[f] is not None)
        return self.separator.join(p for p in parts if p)

    def fingerprint(self) -> str:
        """A hash of everything that determines this source's documents (not its name)."""
        identity: dict[str, Any] = {
            "fields": list(self.fields),
            "template": _fingerprint_template(self.template),
            "separator": self.separator,
            "join_with": self.join_with,
            "version": self.version,
        }
        if self.loader is not None:
            identity["loader"] = _fingerprint_loader(self.loader)
        elif self.files is not None:
            identity["files"] = {**dataclasses.asdict(self.files), "paths": [_file_identity(p) for p in self.files.paths]}
        else:
            identity["hub"] = dataclasses.asdict(self.hub)  # type: ignore[arg-type]
        return stable_hash(identity)


def stable_hash(obj: Any, length: int = 16) -> str:
    """sha256 of canonical JSON: the same value gives the same hash in every process."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _callable_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _code_hash(fn: Callable[..., Any]) -> str:
    try:
        code = inspect.getsource(fn)
    except (OSError, TypeError):
        code = ""
    return _callable_name(fn) + ":" + hashlib.sha256(code.encode()).hexdigest()[:16]


def _fingerprint_template(template: Template | None) -> str | None:
    return _code_hash(template) if callable(template) else template


def _fingerprint_loader(loader: Loader) -> str:
    if callable(loader):
        return _code_hash(loader)
    return stable_hash([r if isinstance(r, str) else dict(r) for r in loader])


def _file_identity(path: str) -> list[Any]:
    """Path, size and mtime: a changed file invalidates cached windows without hashing its bytes."""
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


# --- the registry ---------------------------------------------------------------------------

_SOURCES: Registry[Source] = Registry("calibration source")
_env_loaded: set[str] = set()


def _register_toy_sources() -> None:
    from calray.data.toy_sources import register_toy_sources  # the toy world, on first use only

    register_toy_sources()


_SOURCES.defer("toy:", _register_toy_sources)


def register_source(source: Source, *, replace: bool = False) -> Source:
    """Add ``source`` to the registry; ``replace=True`` overrides one of the same name."""
    if replace:
        _SOURCES.unregister(source.name)
    return _SOURCES.register(source.name, source)


def unregister_source(name: str) -> None:
    _SOURCES.unregister(name)


def get_source(name: str) -> Source:
    """The registered source ``name`` (CalrayError with a "did you mean" otherwise)."""
    _load_env_sources()
    return _SOURCES.get(name)


def source_names() -> list[str]:
    _load_env_sources()
    return _SOURCES.names()


def select_sources(patterns: str | Iterable[str]) -> list[str]:
    """Names matching any of the glob ``patterns`` (``"toy:*"``, ``"gsm8k"``), sorted.

    A pattern that matches nothing is an error, so a typo never silently drops a group.
    """
    names = source_names()
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    chosen: set[str] = set()
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            hits = fnmatch.filter(names, pattern)
            if not hits:
                raise CalrayError(f"pattern {pattern!r} matches no calibration source (known: {', '.join(names)})")
            chosen.update(hits)
        else:
            chosen.add(get_source(pattern).name)
    return sorted(chosen)


def _load_env_sources() -> None:
    """Apply the sources files named in ``$CALRAY_SOURCES`` (os.pathsep-separated), once each."""
    value = os.environ.get("CALRAY_SOURCES", "")
    for path in filter(None, value.split(os.pathsep)):
        if path not in _env_loaded:
            _env_loaded.add(path)
            from calray.data.sources_file import use_sources_file

            use_sources_file(path)
