"""The toy world's nine evaluation tasks (``calray.toy.TASKS``) in the harness's task kinds.

Zero-shot everywhere: the toy model was trained on these formats. The tasks are registered
on the first lookup of a ``toy:`` task and their records generated from the toy world (seed 0)
when a task is first scored, so importing calray.evaluate costs nothing for them.

- ``perplexity``: rolling token perplexity over held-out documents (``token_perplexity``;
  the model's 256-token windows, BOS first, as the toy model was trained);
- ``multiple_choice``: accuracy of the likeliest ``" " + choice`` after the query;
- ``exact_match`` (``toy:gsm``): greedy until ``MATH_STOP``, at most 100 new tokens, the number
  after ``#### `` (strict, the score) or the last number (flexible);
- ``pass_at_1`` (``toy:humaneval``): greedy until ``CODE_STOP``, at most 128 new tokens, then
  prompt + completion + the hidden asserts run in the sandbox.

The capability map ``toy`` (``maps/toy.yaml``) groups them by dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import calray.toy
from calray.evaluate.builtin.sources import LocalData
from calray.evaluate.registry import register_task
from calray.evaluate.tasks import (
    AnswerItem,
    ChoiceItem,
    CodeItem,
    CodeTask,
    GenerationTask,
    MultipleChoiceTask,
    PerplexityTask,
    TextItem,
    flexible_extract,
    gsm8k_normalize,
    strict_extract,
)
from calray.evaluate.tasks.base import Task

MATH_MAX_NEW_TOKENS = 100
CODE_MAX_NEW_TOKENS = 128


@cache
def _records(name: str) -> tuple[Any, ...]:
    return tuple(calray.toy.task(name).records())


def _loader(name: str, convert: Callable[[Any], Any]) -> Callable[[LocalData | None], Sequence[Any]]:
    def load(data: LocalData | None) -> list[Any]:  # the toy world needs no data files
        return [convert(r) for r in _records(name)]

    return load


def _choice(r: calray.toy.ChoiceItem) -> ChoiceItem:
    return ChoiceItem(r.query, r.choices, r.gold)


def _answer(r: calray.toy.MathProblem) -> AnswerItem:
    return AnswerItem(r.query, r.solution, r.answer)


def _code(r: calray.toy.CodeTask) -> CodeItem:
    return CodeItem(r.prompt, f"{r.test}\ncheck({r.entry_point})", program_prefix=r.prompt, target=r.canonical_solution)


def toy_task(toy: calray.toy.ToyTask) -> Task[Any]:
    """The harness task of one toy task, by its kind."""
    if toy.kind == "perplexity":
        return PerplexityTask(name=toy.name, items=_loader(toy.name, TextItem), metric="token_perplexity")
    if toy.kind == "multiple_choice":
        return MultipleChoiceTask(name=toy.name, items=_loader(toy.name, _choice), metric="acc")
    if toy.kind == "exact_match":
        return GenerationTask(
            name=toy.name,
            items=_loader(toy.name, _answer),
            until=calray.toy.MATH_STOP,
            max_new_tokens=MATH_MAX_NEW_TOKENS,
            extractors={"exact_match": strict_extract, "exact_match_flexible": flexible_extract},
            normalize=gsm8k_normalize,
        )
    if toy.kind == "pass_at_1":
        return CodeTask(name=toy.name, items=_loader(toy.name, _code), until=calray.toy.CODE_STOP,
                        max_new_tokens=CODE_MAX_NEW_TOKENS)
    raise ValueError(f"toy task {toy.name!r} has kind {toy.kind!r}, which has no harness task")


def register_toy_tasks() -> None:
    """Register the toy world's tasks (``calray.evaluate`` defers this to the first ``toy:`` lookup)."""
    for toy in calray.toy.TASKS:
        register_task(toy_task(toy))
