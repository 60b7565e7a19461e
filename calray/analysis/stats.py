"""Which calibration-set information metric goes with which dimension's retention (Spearman).

The paper's analysis: over the single-source scan (one point per source), Spearman's rank
correlation between each information metric of the calibration set (perplexity under the
dense model, 4-gram repetition, ...) and each dimension's retention. ``spearman_table`` does
that with ``scipy.stats.spearmanr``, and states everything it did not correlate:

- several seeds of one mixture are averaged first (a point per mixture, as in the paper), unless
  ``average_seeds=False``; a point whose value is NaN in any seed stays NaN;
- pairs with a NaN on either side are left out and *counted* (``missing``);
- a constant column (every source gives the same perplexity, or the same retention) has no rank
  correlation: rho and p are NaN and ``note`` says which side was constant;
- fewer than 3 points: NaN with a note;
- p: ``spearmanr``'s (a t approximation) from ``EXACT_MAX + 1`` points on; below, the exact
  permutation p over all n! pairings (``scipy.stats.permutation_test``), because the
  approximation calls a perfect rank order of 3 sources p = 0 where the exact p is 1/3;
- ``q``: Benjamini-Hochberg adjusted p over the table's tests (many metrics x dimensions);
  a correlation *survives* BH when q < alpha;
- ``low``, ``high``: a 95% percentile bootstrap interval of rho over the points
  (``scipy.stats.bootstrap``, pairs resampled; a resample with a constant side counts as rho 0).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from calray.analysis.load import TrialRow

MIN_POINTS = 3
EXACT_MAX = 7  # 7! = 5040 pairings: exact p-values are cheap up to here


@dataclass(frozen=True)
class Correlation:
    metric: str
    dimension: str
    rho: float
    p: float
    n: int  # points correlated
    missing: int = 0  # points left out for a NaN metric or retention
    exact: bool = False  # p from every permutation (small n), else spearmanr's approximation
    q: float = math.nan  # Benjamini-Hochberg adjusted p
    note: str = ""
    low: float = math.nan  # bootstrap interval of rho over the points
    high: float = math.nan

    @property
    def tested(self) -> bool:
        return math.isfinite(self.p)

    def survives(self, alpha: float = 0.05) -> bool:
        """Significant after the Benjamini-Hochberg correction over the table's tests."""
        return math.isfinite(self.q) and self.q < alpha


@dataclass
class SpearmanTable:
    correlations: list[Correlation]
    metrics: list[str]
    dimensions: list[str]
    scope: str  # "single-source trials" or "all trials"
    unit: str  # what a point is: "sources" or "mixtures" (seeds averaged), or "trials"

    def get(self, metric: str, dimension: str) -> Correlation:
        return next(c for c in self.correlations if c.metric == metric and c.dimension == dimension)

    def significant(self, alpha: float = 0.05) -> list[Correlation]:
        """Tested correlations with p < ``alpha``, strongest evidence first."""
        return sorted((c for c in self.correlations if c.tested and c.p < alpha), key=lambda c: (c.p, -abs(c.rho)))

    def notes(self) -> list[str]:
        """One line per distinct reason some cell was not tested or lost points."""
        out = []
        for c in self.correlations:
            if c.note:
                out.append(f"{c.metric} vs {c.dimension}: {c.note}")
            elif c.missing:
                out.append(f"{c.metric} vs {c.dimension}: {c.missing} of {c.n + c.missing} {self.unit} left out (NaN)")
        return out


def points(rows: Sequence[TrialRow], *, average_seeds: bool = True) -> list[tuple[str, dict[str, float], dict[str, float]]]:
    """(label, {dimension or 'total': retention}, {metric: value}) per mixture (seeds averaged)
    or per trial. A value NaN or absent in any seed is NaN."""
    if not average_seeds:
        return [(r.label, {**r.retention, "total": r.total}, dict(r.info)) for r in rows]
    groups: dict[str, list[TrialRow]] = defaultdict(list)
    for r in rows:
        groups[r.label].append(r)
    out = []
    for label, group in groups.items():
        dims = {d for r in group for d in r.retention} | {"total"}
        metrics = {m for r in group for m in r.info}
        out.append((label, {d: _strict_mean([r.value(d) for r in group]) for d in dims},
                    {m: _strict_mean([r.info.get(m, math.nan) for r in group]) for m in metrics}))
    return out


def spearman_table(rows: Sequence[TrialRow], *, dimensions: Sequence[str], metrics: Sequence[str] | None = None,
                   scope: str = "single-source trials", average_seeds: bool = True) -> SpearmanTable:
    """Spearman rho, p and n of every information metric against every dimension's retention
    (and ``total``) over ``rows``; see the module docstring for NaN and constant handling."""
    pts = points(rows, average_seeds=average_seeds)
    metrics = sorted({m for _, _, info in pts for m in info}) if metrics is None else list(metrics)
    columns = [*dimensions, "total"]
    cells = [correlate([info.get(m, math.nan) for _, _, info in pts], [ret.get(d, math.nan) for _, ret, _ in pts],
                       metric=m, dimension=d) for m in metrics for d in columns]
    tested = [i for i, c in enumerate(cells) if c.tested]
    if tested:
        qs = stats.false_discovery_control([cells[i].p for i in tested])
        for i, q in zip(tested, qs, strict=True):
            cells[i] = replace(cells[i], q=float(q))
    unit = "trials" if not average_seeds else "sources" if all(r.single for r in rows) else "mixtures"
    return SpearmanTable(cells, list(metrics), columns, scope, unit)


def correlate(x: Sequence[float], y: Sequence[float], *, metric: str, dimension: str) -> Correlation:
    """Spearman rho of the pairs where both values are finite; NaN with a note when untestable."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(xa) & np.isfinite(ya)
    n, missing = int(keep.sum()), int((~keep).sum())
    xa, ya = xa[keep], ya[keep]

    def untested(note: str) -> Correlation:
        return Correlation(metric, dimension, math.nan, math.nan, n, missing, note=note)

    if n < MIN_POINTS:
        return untested(f"{n} point{'s' if n != 1 else ''} with both values (need {MIN_POINTS})"
                        + (f"; {missing} NaN" if missing else ""))
    if np.ptp(xa) == 0:
        return untested(f"{metric} is constant ({xa[0]:.4g}) over the {n} points")
    if np.ptp(ya) == 0:
        return untested(f"{dimension} retention is constant ({ya[0]:.4g}) over the {n} points")
    result = stats.spearmanr(xa, ya)
    interval = stats.bootstrap((xa, ya), _paired_rank_correlation, paired=True, vectorized=True, n_resamples=999,
                               method="percentile", random_state=0).confidence_interval
    low, high = float(interval.low), float(interval.high)
    if n > EXACT_MAX:
        return Correlation(metric, dimension, float(result.statistic), float(result.pvalue), n, missing, low=low, high=high)
    # Permute one side only: the n! pairings of x with a fixed y (permuting both counts each twice).
    exact = stats.permutation_test((xa,), lambda xs, axis=-1: _rank_correlation(xs, ya, axis=axis), vectorized=True,
                                   permutation_type="pairings", n_resamples=math.inf, alternative="two-sided")
    return Correlation(metric, dimension, float(result.statistic), float(exact.pvalue), n, missing, exact=True, low=low,
                       high=high)


def _rank_correlation(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho of each row of ``x`` (along ``axis``) with ``y``: Pearson's r of ranks."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean()
    return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum())


def _paired_rank_correlation(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho of each resampled pair of rows; 0 where a side is constant (no order)."""
    rx, ry = stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (rx * ry).sum(axis=axis) / denominator, 0.0)


def _strict_mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values and all(math.isfinite(v) for v in values) else math.nan
