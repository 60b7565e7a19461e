"""Score a model on a capability map: every task of the chosen dimensions, once each."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from calray.evaluate.builtin.sources import LocalData
from calray.evaluate.capabilities import CapabilityMap, TaskSpec
from calray.evaluate.interface import EvalModel
from calray.evaluate.registry import TASKS
from calray.evaluate.tasks.base import TaskScore

log = logging.getLogger(__name__)


@dataclass
class CapabilityScores:
    """Scores per task (keyed by task name) and which tasks make up each dimension."""

    map_name: str
    dimensions: dict[str, list[TaskSpec]]
    tasks: dict[str, TaskScore] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "map": self.map_name,
            "dimensions": {d: [s.key() for s in specs] for d, specs in self.dimensions.items()},
            "tasks": {k: v.to_dict() for k, v in self.tasks.items()},
            "seconds": self.seconds,
        }


def evaluate_task(model: EvalModel, spec: TaskSpec, *, data: LocalData | None = None, seed: int = 0) -> TaskScore:
    """Score one capability-map entry."""
    return TASKS.get(spec.task).evaluate(
        model, data=data, limit=spec.limit, num_fewshot=spec.num_fewshot, max_new_tokens=spec.max_new_tokens, seed=seed
    )


def evaluate_capabilities(
    model: EvalModel,
    cmap: CapabilityMap,
    *,
    data: LocalData | None = None,
    seed: int = 0,
    cached: dict[str, TaskScore] | None = None,
) -> CapabilityScores:
    """Score every task of ``cmap`` (a task listed in two dimensions runs once); tasks in
    ``cached`` are taken from there instead of being run."""
    scores = CapabilityScores(cmap.name, cmap.dimensions)
    for dim, specs in cmap.dimensions.items():
        for spec in specs:
            if spec.task in scores.tasks:
                continue
            if cached and spec.task in cached:
                scores.tasks[spec.task] = cached[spec.task]
                continue
            start = time.perf_counter()
            scores.tasks[spec.task] = evaluate_task(model, spec, data=data, seed=seed)
            scores.seconds[spec.task] = time.perf_counter() - start
            log.info("%s/%s: %s = %.4f (%d items, %.1fs)", dim, spec.task, spec.resolved_metric,
                     scores.tasks[spec.task].metrics[spec.resolved_metric], scores.tasks[spec.task].n, scores.seconds[spec.task])
    return scores
