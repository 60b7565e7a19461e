"""Confidence intervals for retentions and for differences between mixtures (paired bootstrap).

A retention is noisy twice over: the evaluation items are a sample of what a capability could
be tested on, and the calibration windows a sample of what a source could give (the seed).
``bootstrap_retention`` resamples both, stratified:

- items within each task, with replacement; one draw of item positions per task is shared by
  every run and by the dense model (they are all scored on the same items), so each pruned
  score is compared with the dense score *of the same items*, and two mixtures are compared
  on the same items: the intervals of a difference are paired;
- calibration seeds within each mixture, with replacement (independently per mixture: seed 0
  of one mixture has nothing in common with seed 0 of another). Items and seeds are crossed
  (every seed is scored on every item), so a seed's retention already carries item noise: the
  seeds' part is scaled to the share of their spread that item noise does not explain (a
  method-of-moments split of the two variances), else the item noise would count twice.

Each resample recomputes every task's metric from the per-item values (``calray.item_scores``;
perplexities from their summed parts), the retention per task, per dimension and in total as
``calray.evaluate.retention`` does (tasks undefined at chance stay out), then averages over
the resampled seeds. Intervals are percentile intervals; a difference is *significant* when
its interval excludes 0. Vectorised: a thousand resamples of a toy study take well under a second.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calray.errors import CalrayError
from calray.item_scores import item_count, metric_values

CONFIDENCE = 0.95
RESAMPLES = 1000
TOTAL = "total"


@dataclass(frozen=True)
class RunItems:
    """One evaluated run: its task rows (``JobResult.tasks``: dimension, task, metric,
    retention, higher_is_better) and per-item values of the pruned and the dense model
    ({task: {metric or part: [value per item]}})."""

    tasks: Sequence[Mapping[str, Any]]
    pruned: Mapping[str, Mapping[str, Sequence[float]]]
    dense: Mapping[str, Mapping[str, Sequence[float]]]

    def defined(self) -> list[Mapping[str, Any]]:
        """The task rows whose retention is defined (the dense model beats chance)."""
        return [t for t in self.tasks if t.get("retention") is not None]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self, digits: int = 1) -> str:
        """``80.2 [78.9, 81.4]``."""
        if not math.isfinite(self.estimate):
            return "n/a"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass
class Bootstrap:
    """Resampled retentions of several mixtures (``draws[label][dimension or "total"]``, one
    value per resample) and their point estimates (seed means on every item)."""

    draws: dict[str, dict[str, np.ndarray]]
    point: dict[str, dict[str, float]]
    seeds: dict[str, int]
    items: dict[str, int]  # per task
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    keys: list[str] = field(default_factory=list)  # the dimensions, then "total"

    def interval(self, label: str, key: str = TOTAL) -> Interval:
        """The retention of ``label`` on ``key`` with its percentile interval."""
        return self._interval(self.point[label].get(key, math.nan), self.draws[label].get(key))

    def difference(self, a: str, b: str, key: str = TOTAL) -> Interval:
        """Retention of ``a`` minus that of ``b`` (paired over items), with its interval."""
        da, db = self.draws[a].get(key), self.draws[b].get(key)
        point = self.point[a].get(key, math.nan) - self.point[b].get(key, math.nan)
        return self._interval(point, None if da is None or db is None else da - db)

    def _interval(self, point: float, draws: np.ndarray | None) -> Interval:
        if draws is None or not math.isfinite(point):
            return Interval(math.nan, math.nan, math.nan, self.confidence)
        tail = 100 * (1 - self.confidence) / 2
        low, high = np.nanpercentile(draws, [tail, 100 - tail])
        return Interval(point, float(low), float(high), self.confidence)


def bootstrap_retention(groups: Mapping[str, Sequence[RunItems]], *, resamples: int = RESAMPLES,
                        confidence: float = CONFIDENCE, seed: int = 0) -> Bootstrap:
    """Resample the retention of each mixture (``label -> its runs, one per calibration seed``);
    every run must have been scored on the same items (see the module docstring)."""
    if not groups or any(not runs for runs in groups.values()):
        raise CalrayError("the bootstrap needs at least one run per mixture")
    rng = np.random.default_rng(seed)
    counts = _item_counts(groups)
    index = {task: rng.integers(0, n, size=(resamples, n)) for task, n in counts.items()}
    draws: dict[str, dict[str, np.ndarray]] = {}
    point: dict[str, dict[str, float]] = {}
    keys: list[str] = []
    for label, runs in groups.items():
        per_seed = [_retentions(run, index) for run in runs]  # seed -> key -> (resamples,)
        at_items = [_retentions(run, None) for run in runs]
        keys += [k for k in per_seed[0] if k not in keys]
        picks = rng.integers(0, len(runs), size=(resamples, len(runs)))
        draws[label], point[label] = {}, {}
        for key in per_seed[0]:
            stacked = np.stack([s[key] for s in per_seed], axis=1)  # (resamples, seeds)
            seeds = np.array([float(s[key]) for s in at_items])
            draws[label][key] = stacked.mean(axis=1) + _seed_part(seeds, stacked, picks)
            point[label][key] = float(seeds.mean())
    keys = [k for k in keys if k != TOTAL] + [TOTAL]
    return Bootstrap(draws, point, {k: len(v) for k, v in groups.items()}, counts, confidence, resamples, keys)


def _seed_part(seeds: np.ndarray, stacked: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """The resampled seed mean's deviation, scaled to the share of the seeds' spread that item
    noise does not explain: a seed's retention already varies by the item noise the item
    resampling adds, and counting it twice would widen every interval by about sqrt(2)."""
    if len(seeds) < 2:
        return np.zeros(len(stacked))
    spread = float(np.var(seeds, ddof=1))
    noise = float(np.nanmean(np.nanvar(stacked, axis=0, ddof=1)))
    scale = math.sqrt(max(0.0, 1.0 - noise / spread)) if spread > 0 else 0.0
    return scale * (seeds - seeds.mean())[picks].mean(axis=1)


def _item_counts(groups: Mapping[str, Sequence[RunItems]]) -> dict[str, int]:
    """Items per task, checked to be the same in every run and in the dense scores."""
    counts: dict[str, int] = {}
    for label, runs in groups.items():
        for run in runs:
            for row in run.defined():
                task = row["task"]
                for n in (item_count(run.pruned.get(task, {})), item_count(run.dense.get(task, {}))):
                    if n == 0:
                        raise CalrayError(f"{label}: no per-item scores for task {task!r}; runs recorded before "
                                          "calray kept them cannot be bootstrapped")
                    if counts.setdefault(task, n) != n:
                        raise CalrayError(f"{label}: task {task!r} was scored on {n} items, other runs on "
                                          f"{counts[task]}: a paired bootstrap needs every run on the same items")
    return counts


def _retentions(run: RunItems, index: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Retention per dimension and total of one run, per resample (index) or on every item (None)."""
    by_dim: dict[str, list[np.ndarray]] = defaultdict(list)
    for row in run.defined():
        task, metric = row["task"], row["metric"]
        pick = None if index is None else index[task]
        pruned = metric_values(_arrays(run.pruned[task]), metric, pick)
        dense = metric_values(_arrays(run.dense[task]), metric, pick)
        with np.errstate(divide="ignore", invalid="ignore"):
            if row.get("higher_is_better", True):
                kept = 100.0 * pruned / dense
            else:
                kept = np.where(np.isfinite(pruned), 100.0 * dense / pruned, 0.0)  # an infinite perplexity keeps 0
        by_dim[row["dimension"]].append(kept)
    dims = {d: np.mean(np.stack(v), axis=0) for d, v in by_dim.items()}
    out = dict(dims)
    if dims:
        out[TOTAL] = np.mean(np.stack(list(dims.values())), axis=0)
    return out


def _arrays(items: Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in items.items()}
