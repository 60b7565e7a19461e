"""What a trial maximises, and the Pareto front when it maximises every dimension at once.

``total`` is the mean retention over the dimensions that are defined (a dimension whose dense
score is at chance has none); ``weighted`` the weighted mean of the defined dimensions' retention
with the given weights; ``pareto`` reports every dimension to the searcher (Optuna's
multi-objective TPE) and the sweep keeps the non-dominated mixtures.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from calray.errors import CalrayError

OBJECTIVE = "objective"


@dataclass(frozen=True)
class Objective:
    kind: str  # total | weighted | pareto
    dimensions: tuple[str, ...]
    weights: tuple[tuple[str, float], ...] = ()

    @classmethod
    def create(cls, kind: str, dimensions: Sequence[str], weights: Mapping[str, float] | None = None) -> Objective:
        unknown = sorted(set(weights or {}) - set(dimensions))
        if unknown:
            raise CalrayError(
                f"objective weights name dimensions {unknown} that the capability map lacks (it has {list(dimensions)})"
            )
        return cls(kind, tuple(dimensions), tuple(sorted((weights or {}).items())))

    @property
    def metrics(self) -> list[str]:
        """The metric(s) the searcher optimises: one, or one per dimension for ``pareto``."""
        return [f"retention/{d}" for d in self.dimensions] if self.kind == "pareto" else [OBJECTIVE]

    def value(self, metrics: Mapping[str, float]) -> float:
        """The objective of a trial's flat metrics (NaN when no dimension it needs is defined)."""
        if self.kind == "weighted":
            pairs = [(w, metrics[f"retention/{d}"]) for d, w in self.weights if f"retention/{d}" in metrics and w > 0]
            total = sum(w for w, _ in pairs)
            return sum(w * r for w, r in pairs) / total if total > 0 else math.nan
        return float(metrics.get("retention/total", math.nan))

    def vector(self, metrics: Mapping[str, float]) -> tuple[float, ...]:
        return tuple(float(metrics.get(f"retention/{d}", math.nan)) for d in self.dimensions)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (maximising)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def pareto_front(points: Mapping[Hashable, Sequence[float]]) -> list[Hashable]:
    """The keys of the non-dominated points (those with a NaN coordinate are left out), in the
    given order; equal points are all kept.

    >>> pareto_front({"a": (1, 0), "b": (0, 1), "c": (0.5, 0.5), "d": (0, 0)})
    ['a', 'b', 'c']
    """
    finite = {k: tuple(v) for k, v in points.items() if all(math.isfinite(x) for x in v)}
    return [k for k, v in finite.items() if not any(dominates(w, v) for j, w in finite.items() if j != k)]
