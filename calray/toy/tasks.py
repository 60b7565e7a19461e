"""The toy evaluation: per capability dimension, plain records ready to register as tasks.

Each ``ToyTask`` names its dimension and kind (the task kinds of ``calray.evaluate``) and
makes its records deterministically from the world seed. Sizes keep one full evaluation of
the toy model to a few seconds on two cores while leaving several hundred items per
multiple-choice task, so accuracy moves in steps of well under a point.

>>> [t.name for t in TASKS if t.dimension == "math"]
['toy:math_ppl', 'toy:gsm']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from calray.toy import arithmetic, commonsense, general, programs
from calray.toy.corpus import DEFAULT_SEED, DOMAIN_DOCUMENTS, DOMAINS, stream_rng, world
from calray.toy.records import ChoiceItem, CodeTask, MathProblem
from calray.toy.world import World

TaskKind = Literal["perplexity", "multiple_choice", "exact_match", "pass_at_1"]
Record = Any  # str (perplexity) | ChoiceItem | MathProblem | CodeTask


@dataclass(frozen=True)
class ToyTask:
    name: str
    dimension: str
    kind: TaskKind
    size: int
    make: Callable[[World, np.random.Generator], Record]
    description: str = ""

    def records(self, n: int | None = None, *, seed: int = DEFAULT_SEED) -> list[Record]:
        """``n`` (default ``size``) distinct records, the same for the same seed."""
        w, rng = world(seed), stream_rng(seed, self.name, "evaluation")
        out: list[Record] = []
        seen: set[str] = set()
        target = self.size if n is None else n
        for _ in range(100 * target):
            record = self.make(w, rng)
            key = _identity(record)
            if key not in seen:
                seen.add(key)
                out.append(record)
                if len(out) == target:
                    return out
        raise RuntimeError(f"{self.name}: only {len(out)} distinct records exist, {target} asked")

    @property
    def chance(self) -> float | None:
        """Accuracy of guessing (multiple choice); None where guessing has no level (EM, pass@1, perplexity)."""
        if self.kind != "multiple_choice":
            return None
        return float(np.mean([1 / len(r.choices) for r in self.records()]))


def _identity(record: Record) -> str:
    if isinstance(record, ChoiceItem):
        return record.query + "\x00" + "\x00".join(sorted(record.choices))
    if isinstance(record, MathProblem):
        return record.question
    if isinstance(record, CodeTask):
        return record.prompt
    return record


def _perplexity(domain: str) -> Callable[[World, np.random.Generator], str]:
    def make(w: World, rng: np.random.Generator) -> str:
        return DOMAIN_DOCUMENTS[domain](w, rng, "evaluation")

    return make


TASKS: tuple[ToyTask, ...] = (
    *(ToyTask(f"toy:{d}_ppl", d, "perplexity", 40, _perplexity(d), f"held-out {d} documents") for d in DOMAINS),
    ToyTask("toy:knowledge", "general", "multiple_choice", 300, general.knowledge_item,
            "facts about people and places, asked in sentence frames never seen in training (4 choices)"),
    ToyTask("toy:piqa", "commonsense", "multiple_choice", 300, commonsense.piqa_item,
            "which of two things achieves a goal; held-out properties need two hops (2 choices)"),
    ToyTask("toy:arc", "commonsense", "multiple_choice", 300, commonsense.arc_item,
            "material, room, weight and held-out property questions in unseen phrasings (4 choices)"),
    ToyTask("toy:gsm", "math", "exact_match", 200, arithmetic.math_item,
            "word problems of the evaluation split, greedy answer after '####'"),
    ToyTask("toy:humaneval", "code", "pass_at_1", 120, programs.code_task,
            "held-out functions: complete the body, hidden tests run"),
)
TASKS = tuple(sorted(TASKS, key=lambda t: (DOMAINS.index(t.dimension), t.kind != "perplexity")))


def task(name: str) -> ToyTask:
    for t in TASKS:
        if t.name == name:
            return t
    raise KeyError(f"unknown toy task {name!r}; known: {', '.join(t.name for t in TASKS)}")

