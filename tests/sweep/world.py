"""The sweep tests' world: three tiny calibration sources and the tiny tasks and map.

Named in a sweep config's ``setup_modules``: ``setup()`` runs in the driver, the pool and every
shard, so all of them know the same sources and tasks. Idempotent.
"""

from __future__ import annotations

from calray.data import Source, get_source, register_source
from calray.errors import CalrayError
from tests.cluster.helpers import WORDS, _text, register_tiny_world

SOURCES = ("tiny:words", "tiny:numbers", "tiny:letters")
LETTERS = list("abcdefghij")


def setup() -> None:
    register_tiny_world()  # tiny:words, tiny:numbers; tasks tiny_mc, tiny_gen, tiny_ppl; map "tiny"
    try:
        get_source("tiny:letters")
    except CalrayError:
        docs = [{"text": _text(300 + i, LETTERS + WORDS[:3])} for i in range(6)]
        register_source(Source(name="tiny:letters", dimension="general", loader=docs, sampling="random-window"))
