"""Deterministic token-window streams, one per (source, tokenizer, seqlen, seed, sampling).

Window k of a source's stream depends only on that key, never on how many windows are
asked for or which other sources share the mixture: a mixture takes the first n_s windows
of each stream. Streams are generated lazily (documents are tokenized only when visited)
and cached on disk as Arrow; a later request for more windows regenerates the stream,
checks that the cached prefix is reproduced, and extends the cache.

Sampling methods:

- ``random-window`` (SparseGPT's C4 sampler): visit documents in a seeded random order;
  each document with at least ``seqlen`` tokens gives one window at a random offset.
  When every document has been visited, another round visits, in a fresh order, the
  documents long enough for a further disjoint window (a document of T tokens gives at
  most T // seqlen windows), so a few long documents (WikiText) still give many windows
  and the stream ends when the source's tokens are used up. A source with no long enough
  document is an error that says so; it never loops.
- ``packed``: documents in a seeded random order, each followed by EOS, concatenated and
  cut into consecutive windows; the tail shorter than a window is dropped. The default
  for sources of short documents (GSM8K, instructions).

Windows hold text tokens only: no BOS is added unless ``bos=True``, which makes every
window BOS followed by ``seqlen - 1`` text tokens (useful for models such as Gemma whose
activations depend on a leading BOS). SparseGPT's random windows of C4 almost never start
at a document's BOS, so the default matches it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calray.data.cache import cache_root, read_table, table_meta, table_windows, windows_table, write_table
from calray.data.loading import Documents, load_documents
from calray.data.sources import SAMPLING_METHODS, Source, get_source, stable_hash
from calray.data.tokenizer import encode, tokenizer_fingerprint
from calray.errors import CalrayError

log = logging.getLogger(__name__)

_BATCH = 32  # documents tokenized per call
_CHUNK = 64  # cached streams are generated in multiples of this many windows
_MEMO_TOKENS = 32_000_000  # tokens of long documents kept for later rounds of random-window
_FORMAT = 1  # bump when the sampling algorithms change, to invalidate old caches


@dataclass
class StreamStats:
    """What a stream has seen, for error messages when it runs dry."""

    documents: int = 0
    visited: int = 0
    tokens: int = 0
    eligible: int = 0
    longest: int = 0
    windows: int = 0
    exhausted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


Tokenize = Callable[[list[str]], list[np.ndarray]]


def _batches(order: np.ndarray) -> Iterator[list[int]]:
    for start in range(0, len(order), _BATCH):
        yield order[start : start + _BATCH].tolist()


def _window(ids: np.ndarray, start: int, content: int, bos: int | None) -> np.ndarray:
    chunk = ids[start : start + content]
    return chunk if bos is None else np.concatenate([np.array([bos], dtype=np.int32), chunk])


def random_window_stream(
    docs: Documents, tokenize: Tokenize, *, seqlen: int, seed: int, bos: int | None, stats: StreamStats
) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    content = seqlen - (bos is not None)
    stats.documents = len(docs)
    capacity: dict[int, int] = {}  # document -> how many disjoint windows it holds (>= 2 only)
    memo: dict[int, np.ndarray] = {}
    memo_tokens = 0
    for batch in _batches(rng.permutation(len(docs))):
        for doc, ids in zip(batch, tokenize(docs.texts(batch)), strict=True):
            stats.visited += 1
            stats.tokens += len(ids)
            stats.longest = max(stats.longest, len(ids))
            if len(ids) < content:
                continue
            stats.eligible += 1
            if len(ids) // content > 1:
                capacity[doc] = len(ids) // content
                if memo_tokens + len(ids) <= _MEMO_TOKENS:
                    memo[doc] = ids
                    memo_tokens += len(ids)
            stats.windows += 1
            yield _window(ids, int(rng.integers(0, len(ids) - content + 1)), content, bos)
    for round_ in range(1, max(capacity.values(), default=0)):
        again = np.array(sorted(d for d, cap in capacity.items() if cap > round_), dtype=np.int64)
        for batch in _batches(again[rng.permutation(len(again))]):
            todo = [d for d in batch if d not in memo]
            fresh = dict(zip(todo, tokenize(docs.texts(todo)), strict=True))
            for doc in batch:
                ids = memo[doc] if doc in memo else fresh[doc]
                stats.windows += 1
                yield _window(ids, int(rng.integers(0, len(ids) - content + 1)), content, bos)
    stats.exhausted = True


def packed_stream(
    docs: Documents, tokenize: Tokenize, *, seqlen: int, seed: int, bos: int | None, eos: int, stats: StreamStats
) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    content = seqlen - (bos is not None)
    stats.documents = len(docs)
    separator = np.array([eos], dtype=np.int32)
    pending: list[np.ndarray] = []  # token runs not yet cut into windows
    pending_len = 0
    for batch in _batches(rng.permutation(len(docs))):
        for ids in tokenize(docs.texts(batch)):
            stats.visited += 1
            if len(ids) == 0:
                continue
            stats.tokens += len(ids) + 1
            stats.longest = max(stats.longest, len(ids))
            pending += [ids, separator]
            pending_len += len(ids) + 1
            if pending_len < content:
                continue
            run = np.concatenate(pending)
            cut = len(run) // content * content
            for start in range(0, cut, content):
                stats.windows += 1
                yield _window(run, start, content, bos)
            pending, pending_len = [run[cut:]], len(run) - cut
    stats.exhausted = True


@dataclass(frozen=True)
class StreamKey:
    """Everything that decides a stream's windows; its hash names the cache file."""

    tokenizer: str
    source: str
    seqlen: int
    seed: int
    sampling: str
    bos: bool
    format: int = field(default=_FORMAT)

    def digest(self) -> str:
        return stable_hash(self.__dict__, length=24)


def _supply_error(source: Source, method: str, seqlen: int, wanted: int, stats: dict[str, Any]) -> CalrayError:
    if method == "random-window" and stats["eligible"] == 0:
        return CalrayError(
            f"source {source.name!r}: no document has {seqlen} tokens (longest: {stats['longest']} of "
            f"{stats['documents']} documents), so random-window sampling finds nothing; use sampling "
            "'packed' (--sampling packed), which joins documents with EOS, or a shorter seqlen"
        )
    detail = f"{stats['documents']} documents, {stats['tokens']} tokens"
    if method == "random-window":
        detail += f", {stats['eligible']} documents of >= {seqlen} tokens"
    other = "; or try sampling 'packed'" if method == "random-window" else ""
    return CalrayError(
        f"source {source.name!r} can supply only {stats['windows']} {method} windows of {seqlen} tokens "
        f"({wanted} requested; {detail}); ask for at most {stats['windows']} samples from it, a shorter seqlen, "
        f"or point it at more data{other}"
    )


def _generate(
    source: Source, tokenizer: Any, n: int, *, seqlen: int, seed: int, method: str, bos: bool, cache_dir: Any
) -> tuple[np.ndarray, StreamStats]:
    bos_id = None
    if bos:
        bos_id = tokenizer.bos_token_id
        if bos_id is None:
            raise CalrayError("bos=True but the tokenizer has no BOS token; build the windows without BOS")
    docs = load_documents(source, cache_dir=cache_dir)
    stats = StreamStats()

    def tokenize(texts: list[str]) -> list[np.ndarray]:
        return encode(tokenizer, texts)

    if method == "random-window":
        stream = random_window_stream(docs, tokenize, seqlen=seqlen, seed=seed, bos=bos_id, stats=stats)
    else:
        eos = tokenizer.eos_token_id
        if eos is None:
            raise CalrayError(
                f"packed sampling of {source.name!r} separates documents with EOS, but the tokenizer has none; "
                "use a tokenizer with an EOS token or sampling 'random-window'"
            )
        stream = packed_stream(docs, tokenize, seqlen=seqlen, seed=seed, bos=bos_id, eos=eos, stats=stats)
    windows = [w for _, w in zip(range(n), stream, strict=False)]
    if len(windows) < n:
        stats.exhausted = True
    out = np.stack(windows) if windows else np.zeros((0, seqlen), dtype=np.int32)
    return out, stats


def _cache_path(root: Path, name: str, key: StreamKey) -> Path:
    safe = re.sub(r"[^a-z0-9_.+-]", "_", name)
    return root / "windows" / f"{safe}-{key.digest()}.arrow"


def source_windows(
    tokenizer: Any,
    source: str | Source,
    n: int,
    *,
    seqlen: int,
    seed: int = 0,
    sampling: str | None = None,
    bos: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """The first ``n`` windows, ``(n, seqlen)`` int32, of ``source``'s deterministic stream.

    ``sampling`` defaults to the source's own method. Raises a CalrayError saying how many
    windows the source can supply when it holds fewer than ``n``. Example::

        source_windows(tokenizer, "gsm8k", 16, seqlen=512, seed=0)  # (16, 512) int32
    """
    src = get_source(source) if isinstance(source, str) else source
    method = sampling or src.sampling
    if method not in SAMPLING_METHODS:
        raise CalrayError(f"sampling {method!r} is not one of {SAMPLING_METHODS}")
    if seqlen < 2 or n < 0:
        raise CalrayError(f"need seqlen >= 2 and n >= 0 (got seqlen={seqlen}, n={n})")
    if n == 0:
        return np.zeros((0, seqlen), dtype=np.int32)
    key = StreamKey(tokenizer_fingerprint(tokenizer), src.fingerprint(), seqlen, seed, method, bos)
    path = _cache_path(cache_root(cache_dir), src.name, key)
    cached: np.ndarray | None = None
    if use_cache and path.is_file():
        table = read_table(path)
        cached, meta = table_windows(table), table_meta(table)
        if len(cached) >= n:
            log.debug("windows of %s: %d from cache %s", src.name, n, path)
            return cached[:n]
        if meta["stats"]["exhausted"]:
            raise _supply_error(src, method, seqlen, n, meta["stats"])
    if src.warning:
        log.warning("source %s: %s", src.name, src.warning)
    target = -(-n // _CHUNK) * _CHUNK if use_cache else n  # cache whole chunks, so nearby sizes hit it
    windows, stats = _generate(src, tokenizer, target, seqlen=seqlen, seed=seed, method=method, bos=bos, cache_dir=cache_dir)
    if cached is not None and not np.array_equal(windows[: len(cached)], cached):
        raise CalrayError(
            f"source {src.name!r}: a fresh build of its windows differs from the cached ones in {path}, so its "
            "records changed without its fingerprint changing (a Python loader's output?); bump the source's "
            "`version` or delete that cache file"
        )
    if use_cache:
        write_table(path, windows_table(windows, meta={"key": key.__dict__, "source": src.name, "stats": stats.as_dict()}))
    if len(windows) < n:
        raise _supply_error(src, method, seqlen, n, stats.as_dict())
    log.debug("windows of %s: built %d (%d documents visited)", src.name, len(windows), stats.visited)
    return windows[:n]
