"""The study's tables: each source alone, mixtures against single sources, the Pareto front.

- ``single_source_table``: retention per source x dimension (mean ± std over seeds), the best
  source of each dimension and whether it is one of that dimension's *own* sources (its
  dimension tag, as the sweep recorded it): the paper's "no single source preserves all
  capabilities" is read off this table;
- ``comparison_table``: the best mixture found vs the uniform mix vs the best single source vs
  a named default source (C4 in the paper), per dimension and total;
- ``pareto_mixtures``: the non-dominated mixtures over the dimensions (``calray.sweep``'s
  ``pareto_front`` on seed means).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from calray.analysis.load import TrialRow
from calray.errors import CalrayError
from calray.sweep.objective import pareto_front


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (NaN for one seed) of ``n`` finite values;
    ``missing`` seeds had no value; ``interval``: a 95% interval the analysis computed (the
    confirmed headlines' bootstrap), which figures draw instead of a t-interval over seeds."""

    mean: float
    std: float
    n: int
    missing: int = 0
    interval: tuple[float, float] | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return cls(math.nan, math.nan, 0, len(values))
        std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
        return cls(float(np.mean(finite)), std, len(finite), len(values) - len(finite))


@dataclass(frozen=True)
class MixtureStats:
    """One mixture (a source alone, or several), its retention statistics over seeds."""

    label: str
    sources: tuple[str, ...]
    weights: Mapping[str, float]
    retention: Mapping[str, Stat]  # dimensions and "total"
    seeds: int

    def mean(self, dimension: str) -> float:
        stat = self.retention.get(dimension)
        return stat.mean if stat is not None else math.nan


def by_mixture(rows: Sequence[TrialRow], dimensions: Sequence[str]) -> list[MixtureStats]:
    """Rows grouped by mixture, in first-seen order, with statistics over their seeds."""
    groups: dict[str, list[TrialRow]] = defaultdict(list)
    for r in rows:
        groups[r.label].append(r)
    return [MixtureStats(label, g[0].sources, dict(g[0].weights),
                         {d: Stat.of([r.value(d) for r in g]) for d in [*dimensions, "total"]}, len(g))
            for label, g in groups.items()]


@dataclass(frozen=True)
class BestSource:
    dimension: str
    source: str
    retention: float
    tag: str | None  # the source's dimension tag (None: not recorded)
    own_sources: tuple[str, ...]  # the scan's sources tagged with this dimension

    @property
    def own(self) -> bool | None:
        """Whether the best source is one of the dimension's own (None when its tag is unknown)."""
        return None if self.tag is None else self.tag == self.dimension


@dataclass
class SingleSourceTable:
    dimensions: list[str]
    sources: list[MixtureStats]  # best total first
    tags: dict[str, str]
    best: dict[str, BestSource]  # per dimension (and "total") with any finite value

    def leader(self) -> str | None:
        """The source that is best on every dimension, if one is."""
        best = [b for d, b in self.best.items() if d != "total"]
        leaders = {b.source for b in best}
        return leaders.pop() if len(leaders) == 1 and len(best) > 1 else None


def single_source_table(rows: Sequence[TrialRow], *, dimensions: Sequence[str],
                        source_dimensions: Mapping[str, str]) -> SingleSourceTable:
    """Retention of each source alone, mean ± std over seeds; the best source per dimension."""
    single = [r for r in rows if r.single is not None]
    if not single:
        raise CalrayError("no single-source trials among the selected runs: the single-source table needs a scan "
                          "(a sweep with search.algorithm=sources, e.g. `calray sweep --single-source`)")
    stats = sorted(by_mixture(single, dimensions), key=lambda m: -_finite_or_low(m.mean("total")))
    best: dict[str, BestSource] = {}
    for d in [*dimensions, "total"]:
        scored = [m for m in stats if math.isfinite(m.mean(d))]
        if not scored:
            continue
        top = max(scored, key=lambda m: m.mean(d))  # first of equals: the better total
        own = tuple(m.label for m in stats if source_dimensions.get(m.label) == d)
        best[d] = BestSource(d, top.label, top.mean(d), source_dimensions.get(top.label), own)
    return SingleSourceTable(list(dimensions), stats, {s: t for s, t in source_dimensions.items()}, best)


@dataclass(frozen=True)
class ComparisonRow:
    what: str
    mixture: MixtureStats | None  # None: nothing of that kind was recorded


def comparison_table(rows: Sequence[TrialRow], *, dimensions: Sequence[str], default: str | None = None) -> list[ComparisonRow]:
    """The paper's comparison: best mixture (highest mean total; among trials evaluated on the
    full map when there are any), uniform mix (every swept source at the same weight), best
    single source, and ``default`` alone."""
    full = [r for r in rows if r.full] or list(rows)
    stats = by_mixture(full, dimensions)
    singles = [m for m in stats if len(m.sources) == 1]
    mixtures = [m for m in stats if len(m.sources) > 1]
    uniform = [m for m in mixtures if len({round(w, 6) for w in m.weights.values()}) == 1]
    out = [ComparisonRow("best mixture", _top(mixtures)), ComparisonRow("uniform mix", _top(uniform)),
           ComparisonRow("best single source", _top(singles))]
    if default is not None:
        found = [m for m in singles if m.label == default]
        if not found:
            raise CalrayError(f"default source {default!r} has no single-source trial among the selected runs "
                              f"(sources alone: {sorted(m.label for m in singles)}); pass --default with one of those")
        out.append(ComparisonRow(f"default ({default})", found[0]))
    return out


def pareto_mixtures(rows: Sequence[TrialRow], *, dimensions: Sequence[str]) -> list[MixtureStats]:
    """Mixtures (single sources included) whose seed-mean retentions no other mixture beats on
    every dimension; dimensions undefined for every mixture are left out of the comparison."""
    stats = by_mixture(rows, dimensions)
    defined = [d for d in dimensions if any(math.isfinite(m.mean(d)) for m in stats)]
    keys = pareto_front({i: tuple(m.mean(d) for d in defined) for i, m in enumerate(stats)})
    front = [stats[int(k)] for k in keys]  # type: ignore[call-overload]
    return sorted(front, key=lambda m: -_finite_or_low(m.mean("total")))


def _top(stats: Sequence[MixtureStats]) -> MixtureStats | None:
    return max(stats, key=lambda m: _finite_or_low(m.mean("total"))) if stats else None


def _finite_or_low(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
