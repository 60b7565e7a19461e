"""The toy world's 18 calibration sources (``calray.toy.SOURCES``), registered on first use.

``calray.data`` defers them (``Registry.defer``): importing calray.data neither imports the
toy world nor hashes its generators; the first lookup of a ``toy:`` name (or of every name,
for a pattern) calls ``register_toy_sources``.

They sit in the same registry as the hub sources, so mixtures (``toy:gsm=0.5,toy:web=0.5``),
patterns (``toy:*``) and the window cache treat them alike. Documents are generated from
the toy world (seed 0, the shipped model's) only when a source is loaded, and kept for the
process. All use ``packed`` sampling: most toy documents are shorter than a 256-token window.

Each source holds enough documents for a 128 x 256-token set under the toy model's
tokenizer with about 2x to spare (``DOCUMENTS``: 2 x 128 x 256 tokens / the source's mean
tokens per document, rounded up to 50); a sparser tokenizer only gives more windows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import calray.toy
from calray.data.sources import Source, register_source

# Documents per source. Mean tokens per document under the toy tokenizer (100 documents,
# measured when chosen): web 228, encyclopedia 52, stories 100, instructions 81, facts 65,
# commonsense_qa 94, gsm 72, metamath 150, equations 106, math_qa 115, code 358,
# code_instruct 154, random 732, repeated 240, shuffled 92 / 70 / 81 / 186.
DOCUMENTS: dict[str, int] = {
    "toy:web": 300,
    "toy:encyclopedia": 1300,
    "toy:stories": 700,
    "toy:instructions": 850,
    "toy:commonsense_facts": 1050,
    "toy:commonsense_qa": 700,
    "toy:gsm": 950,
    "toy:metamath": 450,
    "toy:equations": 650,
    "toy:math_qa": 600,
    "toy:code": 200,
    "toy:code_instruct": 450,
    "toy:random": 100,
    "toy:repeated": 300,
    "toy:shuffled_general": 750,
    "toy:shuffled_commonsense": 950,
    "toy:shuffled_math": 850,
    "toy:shuffled_code": 400,
}


def _generator_digest() -> str:
    """A hash of the toy package's code: a changed generator must invalidate cached windows
    (a Python loader's fingerprint covers only the loader's own code)."""
    digest = hashlib.sha256()
    for path in sorted(Path(calray.toy.__file__).parent.glob("*.py")):
        if path.name != "train.py":
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def _documents(name: str, n: int) -> tuple[str, ...]:
    return tuple(calray.toy.source(name).documents(n))


def toy_loader(name: str, n: int) -> Callable[[], list[str]]:
    """The first ``n`` calibration documents of toy source ``name`` (generated once per process)."""

    def load() -> list[str]:
        return list(_documents(name, n))

    load.__qualname__ = f"toy_documents({name!r}, n={n})"  # the origin in `calray sources list`, and the fingerprint
    return load


def toy_sources() -> tuple[Source, ...]:
    version = f"world{calray.toy.DEFAULT_SEED}-{_generator_digest()}"
    return tuple(
        Source(
            name=s.name,
            dimension=s.dimension,  # type: ignore[arg-type]
            loader=toy_loader(s.name, DOCUMENTS[s.name]),
            version=version,
            description=s.description,
        )
        for s in calray.toy.SOURCES
    )


def register_toy_sources() -> None:
    for source in toy_sources():
        register_source(source)
