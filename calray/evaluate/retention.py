"""Retention: how much of the dense model's score a pruned model keeps, per capability.

Per task: pruned / dense for a higher-is-better metric, dense / pruned for a lower-is-better
one (perplexity); x100. A dimension's retention is the mean over its tasks with a defined
retention; total retention is the mean over dimensions with a defined retention.

Retention is *undefined* when the dense score is at chance, where the ratio measures noise:
the dense score must exceed chance by more than ``max(z * sqrt(p (1 - p) / n), min_margin)``
(p = chance, n = items; z = 2 is about a one-sided 97.7% test that the dense model beats a
guesser; ``min_margin`` = 0.01 covers chance-0 tasks such as exact match, where a single lucky
item out of 100 would otherwise make the ratio meaningful). Metrics without a chance level
(perplexities) are always defined. A pruned model whose perplexity is infinite retains 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from calray.evaluate.runner import CapabilityScores
from calray.evaluate.tasks.base import TaskScore

UNDEFINED_AT_CHANCE = "undefined: dense at chance"


@dataclass(frozen=True)
class ChanceRule:
    z: float = 2.0
    min_margin: float = 0.01

    def at_chance(self, score: float, chance: float | None, n: int) -> bool:
        if chance is None:
            return False
        margin = max(self.z * math.sqrt(max(chance * (1 - chance), 0.0) / max(n, 1)), self.min_margin)
        return score <= chance + margin


@dataclass(frozen=True)
class TaskRetention:
    dimension: str
    task: str
    metric: str
    dense: float
    pruned: float
    chance: float | None
    n: int
    retention: float | None  # x100; None when undefined
    note: str = ""
    stderr: float | None = None  # of the pruned score (lm-eval's mean_stderr; None for perplexities)
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class RetentionReport:
    tasks: list[TaskRetention]
    dimensions: dict[str, float | None]
    total: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": [t.to_dict() for t in self.tasks], "dimensions": self.dimensions, "total": self.total}


def task_retention(dense: float, pruned: float, *, higher_is_better: bool) -> float:
    """x100 ratio in the direction that makes 100 = unchanged, below 100 = worse."""
    if higher_is_better:
        return 100.0 * pruned / dense
    if math.isinf(pruned) or math.isnan(pruned):
        return 0.0
    return 100.0 * dense / pruned


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def retention(pruned: CapabilityScores, dense: CapabilityScores, *, rule: ChanceRule | None = None) -> RetentionReport:
    """Per-task, per-dimension and total retention of ``pruned`` against ``dense``."""
    rule = rule or ChanceRule()
    rows: list[TaskRetention] = []
    dims: dict[str, float | None] = {}
    for dim, specs in pruned.dimensions.items():
        values = []
        for spec in specs:
            metric = spec.resolved_metric
            d: TaskScore = dense.tasks[spec.task]
            p: TaskScore = pruned.tasks[spec.task]
            dv, pv, chance = d.metrics[metric], p.metrics[metric], d.chance.get(metric)
            if rule.at_chance(dv, chance, d.n) or (d.higher_is_better[metric] and dv <= 0):
                rows.append(TaskRetention(dim, spec.task, metric, dv, pv, chance, d.n, None, UNDEFINED_AT_CHANCE,
                                          p.stderr(metric), d.higher_is_better[metric]))
                continue
            r = task_retention(dv, pv, higher_is_better=d.higher_is_better[metric])
            values.append(r)
            rows.append(TaskRetention(dim, spec.task, metric, dv, pv, chance, d.n, r, "", p.stderr(metric),
                                      d.higher_is_better[metric]))
        dims[dim] = _mean(values)
    return RetentionReport(rows, dims, _mean([v for v in dims.values() if v is not None]))
