"""What every task shares: its items, few-shot prompts, deterministic subsets and scores.

A task is defined by its *items* (plain dataclasses, one per question or document) and a few
prompt settings with lm-eval-harness's meaning (``description``, ``target_delimiter``,
``fewshot_delimiter``). Items are either given in memory or loaded from ``LocalData`` (or
the Hugging Face hub) by a loader function, so a task can be registered from Python records
as easily as from benchmark files:

>>> from calray.evaluate import ChoiceItem, MultipleChoiceTask
>>> task = MultipleChoiceTask(name="colours", items=[ChoiceItem(query="Sky:", choices=("blue", "red"), gold=0)])
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from calray.errors import CalrayError
from calray.item_scores import mean_stderr

if TYPE_CHECKING:
    from calray.evaluate.builtin.sources import LocalData
    from calray.evaluate.interface import EvalModel

ItemT = TypeVar("ItemT")
Loader = Callable[["LocalData | None"], Sequence[ItemT]]


@dataclass(frozen=True)
class MetricInfo:
    """How to read a metric: its direction, and whether a chance level exists for it."""

    higher_is_better: bool
    has_chance: bool = True


@dataclass
class TaskScore:
    """Every metric of one task, with its chance level (None: no meaningful chance level).

    ``items`` keeps what each item contributed, in item order, so that intervals can be
    computed (``calray.analysis.bootstrap``): per metric the item's 0/1 (or value) for a mean
    metric, and for perplexities the document's parts (``calray.item_scores``).
    """

    task: str
    metrics: dict[str, float]
    n: int
    higher_is_better: dict[str, bool]
    chance: dict[str, float | None]
    subtasks: dict[str, TaskScore] = field(default_factory=dict)
    items: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n": self.n,
            "metrics": self.metrics,
            "higher_is_better": self.higher_is_better,
            "chance": self.chance,
            "subtasks": {k: v.to_dict() for k, v in self.subtasks.items()},
            "items": self.items,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskScore:
        subs = {k: cls.from_dict(v) for k, v in d.get("subtasks", {}).items()}
        return cls(d["task"], d["metrics"], d["n"], d["higher_is_better"], d["chance"], subs, d.get("items", {}))

    def stderr(self, metric: str) -> float | None:
        """The standard error of a mean metric as lm-eval's ``mean_stderr`` (sample standard
        deviation / sqrt(n)); None for corpus perplexities (lm-eval reports none) or without items."""
        return mean_stderr(self.items[metric]) if metric in self.items else None


def subset(n: int, limit: int | None, *, seed: int = 0) -> list[int]:
    """Indices of a deterministic subset of ``limit`` items out of ``n`` (all when no limit).

    A seeded random sample rather than the first ``limit`` items: benchmark files are often
    ordered by topic, so a prefix is unrepresentative. Same (n, limit, seed), same items.
    """
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise CalrayError(f"limit must be >= 1 (or unset for all items), got {limit}")
    return sorted(random.Random(seed).sample(range(n), limit))


class Evaluable(ABC):
    """Anything the runner can score: a task or a group of tasks."""

    name: str

    @property
    @abstractmethod
    def metrics(self) -> dict[str, MetricInfo]: ...

    @property
    @abstractmethod
    def default_metric(self) -> str: ...

    @property
    def default_fewshot(self) -> int:
        return 0

    @abstractmethod
    def evaluate(
        self,
        model: EvalModel,
        *,
        data: LocalData | None = None,
        limit: int | None = None,
        num_fewshot: int | None = None,
        max_new_tokens: int | None = None,
        seed: int = 0,
    ) -> TaskScore:
        """Score ``model`` on a deterministic subset of ``limit`` items (all when None)."""


@dataclass(frozen=True, kw_only=True)
class Task(Evaluable, Generic[ItemT]):
    """A task over items of one kind. Subclasses say how items become requests and scores.

    ``items`` / ``fewshot_items``: a sequence, or a loader ``(LocalData | None) -> sequence``.
    Without ``fewshot_items``, shots are drawn from ``items`` and never include the item itself.
    """

    name: str
    items: Sequence[ItemT] | Loader = field(repr=False)
    fewshot_items: Sequence[ItemT] | Loader | None = field(default=None, repr=False)
    num_fewshot: int = 0
    fewshot_sampler: Literal["first_n", "random"] = "random"
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"

    @property
    def default_fewshot(self) -> int:
        return self.num_fewshot

    def load(self, data: LocalData | None) -> tuple[Sequence[ItemT], Sequence[ItemT] | None]:
        items = self.items(data) if callable(self.items) else self.items
        pool = self.fewshot_items(data) if callable(self.fewshot_items) else self.fewshot_items
        if not items:
            raise CalrayError(f"task {self.name!r} has no items; check its data files")
        return items, pool

    # --- prompts ----------------------------------------------------------------------------
    @abstractmethod
    def query(self, item: ItemT) -> str:
        """The item's prompt text (lm-eval's ``doc_to_text``)."""

    @abstractmethod
    def target(self, item: ItemT) -> str:
        """The item's answer as shown in a few-shot example (``doc_to_target``)."""

    def shots(self, index: int, items: Sequence[ItemT], pool: Sequence[ItemT] | None, k: int, seed: int) -> list[ItemT]:
        """The ``k`` few-shot examples of item ``index``: fixed per item, whatever the limit."""
        if k == 0:
            return []
        source = pool if pool is not None else items
        if self.fewshot_sampler == "first_n":
            candidates = [j for j in range(len(source)) if pool is not None or j != index]
            return [source[j] for j in candidates[:k]]
        rng = random.Random(seed * 1_000_003 + index)
        drawn = rng.sample(range(len(source)), min(k + (pool is None), len(source)))
        return [source[j] for j in drawn if pool is not None or j != index][:k]

    def fewshot_prefix(self, shots: Sequence[ItemT]) -> str:
        examples = "".join(self.query(s) + self.target_delimiter + self.target(s) + self.fewshot_delimiter for s in shots)
        return self.description + examples

    def prompt(self, index: int, items: Sequence[ItemT], pool: Sequence[ItemT] | None, k: int, seed: int) -> str:
        return self.fewshot_prefix(self.shots(index, items, pool, k, seed)) + self.query(items[index])

    def select(
        self, data: LocalData | None, limit: int | None, seed: int
    ) -> tuple[Sequence[ItemT], Sequence[ItemT] | None, list[int]]:
        items, pool = self.load(data)
        return items, pool, subset(len(items), limit, seed=seed)

    def make_score(
        self, metrics: dict[str, float], n: int, chance: dict[str, float | None], items: dict[str, list[float]]
    ) -> TaskScore:
        return TaskScore(
            task=self.name,
            metrics=metrics,
            n=n,
            higher_is_better={m: info.higher_is_better for m, info in self.metrics.items()},
            chance=chance,
            items=items,
        )


@dataclass(frozen=True, kw_only=True)
class TaskGroup(Evaluable):
    """Tasks scored together, like lm-eval's ``mmlu`` over its subjects: each subtask gets
    the same ``limit`` and few-shot count, and the group's metrics are item-weighted means
    (lm-eval's ``weight_by_size: true``)."""

    name: str
    subtasks: Sequence[Task[Any]] | Callable[[LocalData | None], Sequence[Task[Any]]] = field(repr=False)
    metric: str = "acc"
    num_fewshot: int = 0
    metric_infos: dict[str, MetricInfo] = field(default_factory=lambda: {"acc": MetricInfo(True), "acc_norm": MetricInfo(True)})

    @property
    def metrics(self) -> dict[str, MetricInfo]:
        return self.metric_infos

    @property
    def default_metric(self) -> str:
        return self.metric

    @property
    def default_fewshot(self) -> int:
        return self.num_fewshot

    def tasks(self, data: LocalData | None) -> Sequence[Task[Any]]:
        tasks = self.subtasks(data) if callable(self.subtasks) else self.subtasks
        if not tasks:
            raise CalrayError(f"task group {self.name!r} found no subtasks; check its data files")
        return tasks

    def evaluate(self, model, *, data=None, limit=None, num_fewshot=None, max_new_tokens=None, seed=0):
        shots = self.num_fewshot if num_fewshot is None else num_fewshot
        subs = {
            t.name: t.evaluate(model, data=data, limit=limit, num_fewshot=shots, max_new_tokens=max_new_tokens, seed=seed)
            for t in self.tasks(data)
        }
        n = sum(s.n for s in subs.values())
        first = next(iter(subs.values()))

        def weighted(values: dict[str, float | None]) -> float | None:
            """The item-weighted mean over subtasks; undefined if any subtask's value is."""
            known = {k: v for k, v in values.items() if v is not None}
            return sum(v * subs[k].n for k, v in known.items()) / n if len(known) == len(values) else None

        metrics = {m: weighted({k: s.metrics[m] for k, s in subs.items()}) for m in first.metrics}
        chance = {m: weighted({k: s.chance.get(m) for k, s in subs.items()}) for m in first.metrics}
        items = {key: [v for s in subs.values() for v in s.items.get(key, [])] for key in first.items}
        return TaskScore(self.name, metrics, n, dict(first.higher_is_better), chance, subs, items)  # type: ignore[arg-type]
