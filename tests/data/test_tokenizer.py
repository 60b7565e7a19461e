from __future__ import annotations

from pathlib import Path

import pytest

from calray.data import load_tokenizer, tokenizer_fingerprint
from calray.errors import CalrayError
from calray.tiny import tiny_tokenizer


def test_fingerprint_is_stable_and_follows_the_vocabulary():
    tok = tiny_tokenizer()
    first = tokenizer_fingerprint(tok)
    assert first == tokenizer_fingerprint(tiny_tokenizer()) == tokenizer_fingerprint(tok)
    tok.add_tokens(["<new>"])
    assert tokenizer_fingerprint(tok) != first


@pytest.mark.shared
def test_a_real_tokenizer_loads_by_path_and_differs_from_the_tiny_one(stories260k: Path):
    assert tokenizer_fingerprint(load_tokenizer(str(stories260k))) != tokenizer_fingerprint(load_tokenizer("tiny"))


def test_unknown_tokenizer_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CalrayError, match="cannot load tokenizer"):
        load_tokenizer(str(tmp_path / "no-such-model"))
