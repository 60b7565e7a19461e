"""Capability maps: which tasks, metrics and few-shot counts measure each capability dimension.

A map is YAML (or a dict) validated strictly; ``limit`` picks a deterministic subset of a
task's items so a sweep can evaluate cheaply and a final run fully (``limit: null``):

```yaml
name: paper
dimensions:
  general:
    - {task: mmlu, metric: acc, num_fewshot: 5, limit: 100}
    - {task: wikitext, metric: word_perplexity}
  math:
    - {task: gsm8k, metric: exact_match, num_fewshot: 5, limit: 50}
```

The shipped ``paper`` map follows the study (General, Commonsense, Math, Code); register
your own with ``register_capability_map(name_or_map, source)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from calray.config import StrictModel, load_config, validate
from calray.errors import CalrayError
from calray.evaluate.registry import CAPABILITY_MAPS, TASKS
from calray.format import ordered_dimensions

MAPS_DIR = Path(__file__).with_name("maps")


class TaskSpec(StrictModel):
    """One task in a dimension: its metric, few-shot count, item limit and generation length
    (None = the task's own default)."""

    task: str
    metric: str | None = None
    num_fewshot: int | None = Field(default=None, ge=0)
    limit: int | None = Field(default=None, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _known(self) -> TaskSpec:
        task = TASKS.get(self.task)  # unknown name -> "did you mean"
        if self.metric is not None and self.metric not in task.metrics:
            raise ValueError(f"task {self.task!r} has no metric {self.metric!r} (it has: {', '.join(task.metrics)})")
        return self

    @property
    def resolved_metric(self) -> str:
        return self.metric or TASKS.get(self.task).default_metric

    def key(self) -> dict[str, Any]:
        """Everything that determines this task's score, for caching."""
        task = TASKS.get(self.task)
        return {
            "task": self.task,
            "metric": self.resolved_metric,
            "num_fewshot": task.default_fewshot if self.num_fewshot is None else self.num_fewshot,
            "limit": self.limit,
            "max_new_tokens": self.max_new_tokens,
        }


class CapabilityMap(StrictModel):
    """dimension -> tasks (a dimension's score is the mean over its tasks); dimensions in the
    tables' order (``calray.format.ordered_dimensions``), tasks in the order given."""

    name: str = "custom"
    dimensions: dict[str, list[TaskSpec]]

    @field_validator("dimensions")
    @classmethod
    def _non_empty(cls, dims: dict[str, list[TaskSpec]]) -> dict[str, list[TaskSpec]]:
        if not dims:
            raise ValueError("a capability map needs at least one dimension")
        for dim, specs in dims.items():
            if not specs:
                raise ValueError(f"dimension {dim!r} has no tasks")
            names = [s.task for s in specs]
            if len(set(names)) != len(names):
                raise ValueError(f"dimension {dim!r} lists a task twice: {names}")
        return {d: dims[d] for d in ordered_dimensions(dims)}

    def select(self, dims: list[str] | None) -> CapabilityMap:
        """The map restricted to ``dims`` (all when None)."""
        if dims is None:
            return self
        unknown = [d for d in dims if d not in self.dimensions]
        if unknown:
            raise CalrayError(f"unknown dimension(s) {unknown} in map {self.name!r}; known: {', '.join(self.dimensions)}")
        return self.model_copy(update={"dimensions": {d: specs for d, specs in self.dimensions.items() if d in dims}})

    def with_overrides(self, *, limit: int | None = None, max_new_tokens: int | None = None) -> CapabilityMap:
        """Every task capped at ``limit`` items and ``max_new_tokens`` generated tokens (a
        task's own smaller values are kept); None leaves that setting alone."""

        def cap(current: int | None, new: int | None) -> int | None:
            return current if new is None else min(new, current or new)

        dims = {
            d: [
                s.model_copy(update={"limit": cap(s.limit, limit), "max_new_tokens": cap(s.max_new_tokens, max_new_tokens)})
                for s in specs
            ]
            for d, specs in self.dimensions.items()
        }
        return self.model_copy(update={"dimensions": dims})

    def digest(self) -> str:
        body = {d: [s.key() for s in specs] for d, specs in self.dimensions.items()}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def capability_map(source: str | Path | dict[str, Any] | CapabilityMap) -> CapabilityMap:
    """A map from a registered name, a YAML path, a dict, or a map."""
    if isinstance(source, CapabilityMap):
        return source
    if isinstance(source, dict):
        return validate(CapabilityMap, source, "capability map")
    text = str(source)
    if text in CAPABILITY_MAPS:
        return CAPABILITY_MAPS.get(text)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_config(CapabilityMap, text)
    return CAPABILITY_MAPS.get(text)  # raises with "did you mean"


def register_capability_map(name: str, source: str | Path | dict[str, Any] | CapabilityMap) -> CapabilityMap:
    """Register a map (from YAML path, dict or object) under ``name``; its tasks must exist."""
    cmap = capability_map(source).model_copy(update={"name": name})
    return CAPABILITY_MAPS.register(name, cmap)


def load_builtin_maps() -> None:
    """Register the shipped maps (``maps/*.yaml``) by file name, each read and checked against
    the task registry on its first lookup (so the toy map loads the toy tasks only when used)."""
    for path in sorted(MAPS_DIR.glob("*.yaml")):
        CAPABILITY_MAPS.defer(path.stem, functools.partial(_register_map_file, path))


def _register_map_file(path: Path) -> None:
    register_capability_map(path.stem, yaml.safe_load(path.read_text()))
