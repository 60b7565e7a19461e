"""The four domains' documents, per split.

``documents(domain, split, n)`` is the one entry point: training reads the train split,
calibration sources read the calibration split, perplexity evaluation reads the evaluation
split. Splits are disjoint by document (see ``calray.toy.splits``); on top of that the
commonsense and code generators never use the pairs and functions held out for evaluation.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from calray.toy import arithmetic, commonsense, general, programs
from calray.toy.splits import SPLITS, Split, draw_in_split
from calray.toy.world import World, build_world, rng_for

DOMAINS: tuple[str, ...] = ("general", "commonsense", "math", "code")
DEFAULT_SEED = 0

# (world, rng, split) -> one document that belongs to ``split``.
Generator = Callable[[World, np.random.Generator, Split], str]


@lru_cache(maxsize=8)
def world(seed: int = DEFAULT_SEED) -> World:
    return build_world(seed)


def by_text(make: Callable[[World, np.random.Generator], str]) -> Generator:
    """A split-aware generator from a plain one: redraw until the text hashes into the split."""

    def generate(w: World, rng: np.random.Generator, split: Split) -> str:
        return draw_in_split(lambda: make(w, rng), lambda doc: doc, split, seed=w.seed)

    generate.__name__ = getattr(make, "__name__", "generate")
    return generate


def _code(w: World, rng: np.random.Generator, split: Split) -> str:
    """Evaluation code is made of held-out functions only, which no other split ever uses,
    so it needs no hash test (which would favour long documents among a few short ones)."""
    if split == "evaluation":
        return programs.document(w, rng, held_out=True)
    return draw_in_split(lambda: programs.document(w, rng), lambda d: d, split, seed=w.seed)


DOMAIN_DOCUMENTS: dict[str, Generator] = {
    "general": by_text(general.document),
    "commonsense": by_text(commonsense.document),
    "math": arithmetic.document,
    "code": _code,
}


def stream_rng(seed: int, name: str, split: Split, stream: int = 0) -> np.random.Generator:
    """The random stream of one named generator in one split: independent of every other."""
    return rng_for(seed, zlib.crc32(name.encode()), SPLITS.index(split), stream)


def generate(make: Generator, name: str, split: Split, n: int, *, seed: int = DEFAULT_SEED, stream: int = 0,
             unique: bool = False) -> list[str]:
    """``n`` documents of ``make`` in ``split`` (without repeats when ``unique``)."""
    w, rng = world(seed), stream_rng(seed, name, split, stream)
    docs: list[str] = []
    seen: set[str] = set()
    while len(docs) < n:
        doc = make(w, rng, split)
        if unique:
            if doc in seen:
                continue
            seen.add(doc)
        docs.append(doc)
    return docs


def documents(domain: str, split: Split, n: int, *, seed: int = DEFAULT_SEED, stream: int = 0, unique: bool = False) -> list[str]:
    """``n`` documents of ``domain``'s mix in ``split``, deterministic in (seed, stream)."""
    if domain not in DOMAIN_DOCUMENTS:
        raise ValueError(f"unknown toy domain {domain!r}; known: {', '.join(DOMAINS)}")
    return generate(DOMAIN_DOCUMENTS[domain], f"domain:{domain}", split, n, seed=seed, stream=stream, unique=unique)
