from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calray.data import Source, register_source, source_windows
from calray.errors import CalrayError

from .helpers import words

EOS, BOS = 257, 256


def text_of(window: np.ndarray) -> str:
    """The tiny tokenizer's ids are bytes, so a window of text tokens decodes byte for byte."""
    return bytes(int(t) for t in window if t < 256).decode("utf-8", errors="replace")


class CountingTokenizer:
    """The tiny tokenizer, counting how many texts it was asked to encode."""

    def __init__(self, tok) -> None:
        self._tok = tok
        self.texts = 0

    def __call__(self, texts, **kwargs):
        self.texts += len(texts)
        return self._tok(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def test_random_windows_are_slices_of_long_enough_documents(tok, tmp_path: Path):
    docs = [words(i, 40 if i % 2 else 3) for i in range(20)]  # odd docs ~240 bytes, even ones ~15
    src = Source(name="rw", dimension="general", loader=docs, sampling="random-window")
    windows = source_windows(tok, src, 10, seqlen=64, cache_dir=tmp_path)
    assert windows.shape == (10, 64) and windows.dtype == np.int32
    seen = set()
    for w in windows:
        text = text_of(w)
        owners = [i for i, d in enumerate(docs) if text in d]
        assert len(owners) == 1 and owners[0] % 2 == 1, text
        seen.add(owners[0])
    assert len(seen) == 10  # the first round draws each long document once


def test_random_window_capacity_counts_disjoint_windows_and_never_loops(tok, tmp_path: Path):
    docs = [words(0, 30), words(1, 30), "short"]  # 179 bytes each: 2 disjoint windows of 64
    lengths = [len(d.encode()) for d in docs]
    capacity = sum(n // 64 for n in lengths)
    src = Source(name="cap", dimension="general", loader=docs, sampling="random-window")
    windows = source_windows(tok, src, capacity, seqlen=64, cache_dir=tmp_path)
    assert len(windows) == capacity == 4
    with pytest.raises(CalrayError, match=f"can supply only {capacity} random-window windows of 64 tokens"):
        source_windows(tok, src, capacity + 1, seqlen=64, cache_dir=tmp_path / "fresh")
    with pytest.raises(CalrayError, match=f"can supply only {capacity} random-window"):  # now known from the cache
        source_windows(tok, src, capacity + 1, seqlen=64, cache_dir=tmp_path)


def test_random_window_on_short_documents_says_to_pack(tok, tmp_path: Path):
    src = Source(name="qa", dimension="math", loader=[f"q{i}? a{i}." for i in range(500)], sampling="random-window")
    with pytest.raises(CalrayError, match=r"no document has 64 tokens \(longest: 11 of 500 documents\).*'packed'"):
        source_windows(tok, src, 4, seqlen=64, cache_dir=tmp_path)


def test_packed_windows_are_the_eos_joined_documents_cut_in_order(tok, tmp_path: Path):
    docs = [words(i, 1 + i % 5) for i in range(40)] + ["", "   "]
    src = Source(name="pk", dimension="math", loader=docs)
    total = sum(len(d.encode()) + 1 for d in docs if d.strip())  # each non-empty document + its EOS
    n = total // 32
    windows = source_windows(tok, src, n, seqlen=32, cache_dir=tmp_path)
    flat = windows.reshape(-1)
    assert not np.any((flat[1:] == EOS) & (flat[:-1] == EOS))  # empty documents add no EOS
    *complete, partial = [p.decode() for p in bytes(int(t) if t != EOS else 0 for t in flat).split(b"\0")]
    assert len(set(complete)) == len(complete) and set(complete) <= set(docs)  # whole documents, in turn
    rest = [d for d in docs if d.strip() and d not in complete]
    assert any(d.startswith(partial) for d in rest)
    assert sum(len(d) + 1 for d in rest) - len(partial) == total - n * 32  # only the short tail is dropped
    with pytest.raises(CalrayError, match=f"can supply only {n} packed windows of 32 tokens"):
        source_windows(tok, src, n + 1, seqlen=32, cache_dir=tmp_path / "fresh")


def test_bos_starts_every_window(tok, tmp_path: Path):
    src = Source(name="b", dimension="math", loader=[words(i, 20) for i in range(20)])
    windows = source_windows(tok, src, 5, seqlen=16, bos=True, cache_dir=tmp_path)
    assert (windows[:, 0] == BOS).all() and (windows[:, 1:] != BOS).all()
    plain = source_windows(tok, src, 5, seqlen=16, cache_dir=tmp_path)
    assert (plain[:, 0] != BOS).all()


@pytest.mark.parametrize("sampling", ["packed", "random-window"])
def test_window_k_does_not_depend_on_how_many_are_asked(tok, tmp_path: Path, sampling: str):
    src = Source(name="d", dimension="general", loader=[words(i, 30) for i in range(200)], sampling=sampling)
    few = source_windows(tok, src, 3, seqlen=48, seed=7, use_cache=False)
    many = source_windows(tok, src, 100, seqlen=48, seed=7, use_cache=False)
    assert np.array_equal(few, many[:3])
    other_seed = source_windows(tok, src, 3, seqlen=48, seed=8, use_cache=False)
    assert not np.array_equal(few, other_seed)


def test_second_build_reads_the_cache_and_extends_it(tok, tmp_path: Path):
    calls = []

    def load():
        calls.append(1)
        return [words(i, 25) for i in range(300)]

    register_source(Source(name="mine:cached", dimension="general", loader=load))
    first = source_windows(tok, "mine:cached", 10, seqlen=40, cache_dir=tmp_path)
    again = source_windows(tok, "mine:cached", 10, seqlen=40, cache_dir=tmp_path)
    assert np.array_equal(first, again) and len(calls) == 1
    assert len(list((tmp_path / "windows").glob("mine_cached-*.arrow"))) == 1
    more = source_windows(tok, "mine:cached", 100, seqlen=40, cache_dir=tmp_path)  # beyond the cached 64
    assert len(calls) == 2 and np.array_equal(more[:10], first)
    source_windows(tok, "mine:cached", 100, seqlen=40, cache_dir=tmp_path)
    assert len(calls) == 2


def test_changed_records_behind_an_unchanged_fingerprint_are_caught(tok, tmp_path: Path):
    corpus = [words(i, 25) for i in range(300)]
    register_source(Source(name="mine:drift", dimension="general", loader=lambda: list(corpus)))
    source_windows(tok, "mine:drift", 10, seqlen=40, cache_dir=tmp_path)
    corpus.reverse()
    with pytest.raises(CalrayError, match="bump the source's `version`"):
        source_windows(tok, "mine:drift", 100, seqlen=40, cache_dir=tmp_path)


def test_a_huge_source_is_tokenized_only_as_far_as_needed(tok, tmp_path: Path):
    counting = CountingTokenizer(tok)
    src = Source(name="big", dimension="general", loader=[words(i, 8) for i in range(20_000)])
    source_windows(counting, src, 16, seqlen=64, cache_dir=tmp_path)
    assert 0 < counting.texts < 200  # 64 windows (the cache chunk) of ~48-byte documents
