"""Multiple choice by log-likelihood: the choice the model finds most likely is its answer.

Metrics as lm-evaluation-harness defines them: ``acc`` = argmax of the summed log-likelihood
of each choice; ``acc_norm`` = argmax of log-likelihood divided by the choice's length in
characters. ``partial`` tasks (WinoGrande) put the choices in the context and score the same
continuation after each ("partial evaluation"). Chance = mean of 1 / number of choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from calray.evaluate.tasks.base import MetricInfo, Task, TaskScore


@dataclass(frozen=True)
class ChoiceItem:
    """One question: prompt text, the candidate answers, and the index of the right one."""

    query: str
    choices: tuple[str, ...]
    gold: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not 0 <= self.gold < len(self.choices):
            raise ValueError(f"gold index {self.gold} is outside the {len(self.choices)} choices of {self.query[:60]!r}")


MC_METRICS = {"acc": MetricInfo(higher_is_better=True), "acc_norm": MetricInfo(higher_is_better=True)}


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # first index wins ties, as numpy


@dataclass(frozen=True, kw_only=True)
class MultipleChoiceTask(Task[ChoiceItem]):
    partial: bool = False
    metric: str = "acc"

    @property
    def metrics(self) -> dict[str, MetricInfo]:
        return MC_METRICS

    @property
    def default_metric(self) -> str:
        return self.metric

    def query(self, item: ChoiceItem) -> str:
        return item.query

    def target(self, item: ChoiceItem) -> str:
        return item.choices[item.gold]

    def fewshot_prefix(self, shots: Any) -> str:
        if not self.partial:
            return super().fewshot_prefix(shots)
        return self.description + "".join(
            s.choices[s.gold] + self.target_delimiter + s.query + self.fewshot_delimiter for s in shots
        )

    def requests(self, prefix: str, item: ChoiceItem) -> list[tuple[str, str]]:
        if self.partial:  # contexts differ, continuation shared
            return [(prefix + choice, self.target_delimiter + item.query) for choice in item.choices]
        return [(prefix + item.query, self.target_delimiter + choice) for choice in item.choices]

    def evaluate(self, model, *, data=None, limit=None, num_fewshot=None, max_new_tokens=None, seed=0) -> TaskScore:
        items, pool, chosen = self.select(data, limit, seed)
        k = self.num_fewshot if num_fewshot is None else num_fewshot
        requests: list[tuple[str, str]] = []
        for i in chosen:
            requests += self.requests(self.fewshot_prefix(self.shots(i, items, pool, k, seed)), items[i])
        results = iter(model.loglikelihood(requests))
        acc: list[float] = []
        acc_norm: list[float] = []
        chance = 0.0
        for i in chosen:
            item = items[i]
            lls = [next(results).logprob for _ in item.choices]
            lengths = [float(len(item.query if self.partial else c)) or 1.0 for c in item.choices]
            acc.append(float(_argmax(lls) == item.gold))
            acc_norm.append(float(_argmax([ll / n for ll, n in zip(lls, lengths, strict=True)]) == item.gold))
            chance += 1.0 / len(item.choices)
        n = len(chosen)
        return self.make_score({"acc": sum(acc) / n, "acc_norm": sum(acc_norm) / n}, n,
                               {"acc": chance / n, "acc_norm": chance / n}, {"acc": acc, "acc_norm": acc_norm})
