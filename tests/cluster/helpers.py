"""A tiny in-memory world for the cluster tests: two calibration sources and three tasks.

``register_tiny_world`` is also the ``setup`` of every pool the tests start, so the pool and
shard processes know the same sources and tasks as the test process. It is idempotent.
"""

from __future__ import annotations

import random

from calray.data import Source, get_source, register_source, unregister_source
from calray.evaluate import (
    AnswerItem,
    ChoiceItem,
    GenerationTask,
    MultipleChoiceTask,
    PerplexityTask,
    TextItem,
    register_capability_map,
    register_task,
)
from calray.evaluate.registry import CAPABILITY_MAPS, TASKS

WORDS = "the cat sat on a mat and the dog ran to the park while birds sang over green hills".split()
NUMBERS = [str(n) for n in range(40)]


def _text(seed: int, vocabulary: list[str], sentences: int = 200) -> str:
    rng = random.Random(seed)
    return " ".join(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(4, 12))) + "." for _ in range(sentences))


def register_tiny_world() -> None:
    """Sources ``tiny:words`` and ``tiny:numbers``; tasks ``tiny_mc``, ``tiny_gen``, ``tiny_ppl``;
    capability map ``tiny`` (general: perplexity, commonsense: choice, math: generation)."""
    for name, dimension, seed, vocabulary in (("tiny:words", "general", 1, WORDS), ("tiny:numbers", "math", 2, NUMBERS)):
        try:
            get_source(name)
        except Exception:  # noqa: BLE001 - not registered yet in this process
            docs = [{"text": _text(seed * 100 + i, vocabulary)} for i in range(6)]
            register_source(Source(name=name, dimension=dimension, loader=docs, sampling="random-window"))
    if "tiny_mc" not in TASKS:
        items = [ChoiceItem(query=f"The {w} is", choices=(" on the mat", " in the park", " red"), gold=i % 3)
                 for i, w in enumerate(WORDS[:9])]
        register_task(MultipleChoiceTask(name="tiny_mc", items=items))
        gen = [
            AnswerItem(query=f"{a} plus {b} is", target=str(a + b), answer=str(a + b))
            for a, b in ((1, 2), (3, 4), (5, 6), (2, 2))
        ]
        register_task(GenerationTask(name="tiny_gen", items=gen, until=(".", "\n"), max_new_tokens=5))
        register_task(PerplexityTask(name="tiny_ppl", items=[TextItem(_text(7 + i, WORDS, 6)) for i in range(3)]))
    if "tiny" not in CAPABILITY_MAPS:
        register_capability_map("tiny", {"dimensions": {
            "general": [{"task": "tiny_ppl"}],
            "commonsense": [{"task": "tiny_mc"}],
            "math": [{"task": "tiny_gen"}],
        }})


def unregister_tiny_world() -> None:
    """Leave the test process's registries as other test packages expect them."""
    for name in ("tiny:words", "tiny:numbers"):
        unregister_source(name)
    for name in ("tiny_mc", "tiny_gen", "tiny_ppl"):
        TASKS.unregister(name)
    CAPABILITY_MAPS.unregister("tiny")
