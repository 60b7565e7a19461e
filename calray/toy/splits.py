"""Which split a text belongs to, decided by the text itself.

A document's split is a function of its normalised text (a seeded hash), so the same
document can never land in two splits however many times the generators produce it:
train, calibration and evaluation are disjoint by construction, and the check is one hash.
Word problems are split by their question, so no rendering of an evaluation problem is
ever trained on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Literal, TypeVar

Split = Literal["train", "calibration", "evaluation"]
SPLITS: tuple[Split, ...] = ("train", "calibration", "evaluation")
# Upper bounds of each split's share of the hash range: 90% train, 6% calibration, 4% evaluation.
_BOUNDS = {"train": 0.90, "calibration": 0.96, "evaluation": 1.0}
MAX_TRIES = 100_000

T = TypeVar("T")


def normalise(text: str) -> str:
    """Lower case, one space between words: what 'the same document' means here."""
    return re.sub(r"\s+", " ", text.lower()).strip()


def text_hash(text: str, *, seed: int = 0) -> str:
    return hashlib.blake2b(f"{seed}\x00{normalise(text)}".encode(), digest_size=16).hexdigest()


def split_of(text: str, *, seed: int) -> Split:
    """The split that owns ``text`` in the world of ``seed``."""
    position = int(text_hash(text, seed=seed)[:16], 16) / 2**64
    return next(s for s in SPLITS if position < _BOUNDS[s])


def draw_in_split(make: Callable[[], T], key: Callable[[T], str], split: Split, *, seed: int) -> T:
    """Call ``make`` until what it returns belongs to ``split`` (judged on ``key`` of it)."""
    for _ in range(MAX_TRIES):
        value = make()
        if split_of(key(value), seed=seed) == split:
            return value
    raise RuntimeError(f"no {split} value after {MAX_TRIES} draws; the generator is too narrow")
