"""Tokenizers: loading one by name, and a fingerprint that keys cached token windows.

Windows are cached per tokenizer, so the fingerprint must change whenever tokenization
could: for a fast tokenizer it hashes the full serialised pipeline (vocabulary, merges,
normaliser, pre-tokenizer), for a slow one the vocabulary and special tokens.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any

import numpy as np

from calray.errors import CalrayError

_memo: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A stable hash of everything that decides how ``tokenizer`` splits text into ids.

    Serialising a 128k-token vocabulary takes a moment, so the hash is remembered per
    tokenizer object (recomputed if tokens were added since).
    """
    try:
        size, digest = _memo[tokenizer]
        if size == len(tokenizer):
            return digest
    except (KeyError, TypeError):
        pass
    digest = _fingerprint(tokenizer)
    try:
        _memo[tokenizer] = (len(tokenizer), digest)
    except TypeError:  # not weak-referenceable
        pass
    return digest


def _fingerprint(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        body = backend.to_str()
    else:
        body = json.dumps(sorted(tokenizer.get_vocab().items()))
    specials = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "class": type(tokenizer).__name__}
    digest = hashlib.sha256(body.encode())
    digest.update(json.dumps(specials, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def encode(tokenizer: Any, texts: list[str]) -> list[np.ndarray]:
    """Token ids of each text, without special tokens (windows add BOS/EOS themselves)."""
    if not texts:
        return []
    out = tokenizer(texts, add_special_tokens=False, verbose=False, return_attention_mask=False)
    return [np.asarray(ids, dtype=np.int32) for ids in out["input_ids"]]


def load_tokenizer(name: str) -> Any:
    """``"tiny"`` (calray's byte-level test tokenizer) or a path / hub id for ``AutoTokenizer``."""
    if name == "tiny":
        from calray.tiny import tiny_tokenizer

        return tiny_tokenizer()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise CalrayError(
            f"cannot load tokenizer {name!r}: {str(exc).splitlines()[0]}; give a local model folder "
            "(with tokenizer.json) or 'tiny'"
        ) from None
