"""Spearman tables against scipy computed directly, with NaNs counted and constants named."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from calray.analysis import correlate, load_trials, spearman_table

from .conftest import SOURCES


@pytest.fixture(scope="module")
def scan(study):
    return load_trials(study.uri, "study", sweeps=["scan"])


def seed_means(study, metric: str, dimension: str) -> tuple[list[float], list[float]]:
    """Per source, the mean over seeds (NaN if any seed lacks it), computed here independently."""
    xs, ys = [], []
    for source in SOURCES:
        trials = [t for t in study.scan if source in t.weights]
        x = [t.info.get(metric, math.nan) for t in trials]
        y = [t.total if dimension == "total" else t.retention.get(dimension, math.nan) for t in trials]
        xs.append(float(np.mean(x)))  # np.mean propagates NaN
        ys.append(float(np.mean(y)))
    return xs, ys


def test_rho_p_n_match_scipy_over_seed_means(study, scan):
    table = spearman_table(scan.single_source(), dimensions=scan.dimensions)
    assert table.unit == "sources" and table.dimensions == ["general", "math", "code", "total"]
    for metric in ("perplexity", "seq_rep_4"):
        for d in table.dimensions:
            x, y = seed_means(study, metric, d)
            keep = [i for i in range(len(x)) if math.isfinite(x[i]) and math.isfinite(y[i])]
            expected = stats.spearmanr([x[i] for i in keep], [y[i] for i in keep])
            c = table.get(metric, d)
            assert (c.n, c.missing) == (len(keep), len(x) - len(keep))
            assert c.rho == pytest.approx(expected.statistic)
            if c.n == 8:  # above EXACT_MAX: scipy's own p
                assert not c.exact and c.p == pytest.approx(expected.pvalue)
            else:  # a source left out for a NaN: 7 points, the exact permutation p
                assert c.exact and 0 < c.p <= 1
    # the planted relations: perplexity up with general, down with math
    assert table.get("perplexity", "general").rho > 0.9 and table.get("perplexity", "math").rho < -0.9
    assert [(c.metric, c.dimension) for c in table.significant()][:2] in (
        [("perplexity", "general"), ("perplexity", "math")], [("perplexity", "math"), ("perplexity", "general")])


def test_nan_points_are_counted_and_small_n_uses_the_exact_permutation_p(scan):
    table = spearman_table(scan.single_source(), dimensions=scan.dimensions)
    code = table.get("perplexity", "code")  # src7's code retention is undefined
    assert (code.n, code.missing, code.exact) == (7, 1, True)
    seq = table.get("seq_rep_4", "general")  # src2 lacks seq_rep_4 in one seed
    assert (seq.n, seq.missing) == (7, 1)
    both = table.get("seq_rep_4", "code")
    assert (both.n, both.missing) == (6, 2)
    assert "seq_rep_4 vs general: 1 of 8 sources left out (NaN)" in table.notes()


def test_a_constant_column_is_named_not_correlated(scan):
    table = spearman_table(scan.single_source(), dimensions=scan.dimensions)
    c = table.get("constant", "math")
    assert math.isnan(c.rho) and math.isnan(c.p) and c.n == 8 and "constant is constant (1) over the 8 points" in c.note
    flat = correlate([1, 2, 3, 4], [5, 5, 5, 5], metric="m", dimension="math")
    assert math.isnan(flat.rho) and flat.note == "math retention is constant (5) over the 4 points"
    few = correlate([1, math.nan, 3], [1, 2, 3], metric="m", dimension="d")
    assert math.isnan(few.p) and (few.n, few.missing) == (2, 1) and "need 3" in few.note


def test_q_values_are_benjamini_hochberg_over_the_tested_cells(scan):
    table = spearman_table(scan.single_source(), dimensions=scan.dimensions)
    tested = [c for c in table.correlations if c.tested]
    assert len(tested) == 2 * 4  # perplexity and seq_rep_4 x 4 columns; the constant metric is untested
    expected = stats.false_discovery_control([c.p for c in tested])
    assert [c.q for c in tested] == pytest.approx(list(expected))


def test_per_trial_correlation_over_every_seed(study, scan):
    table = spearman_table(scan.single_source(), dimensions=scan.dimensions, average_seeds=False)
    assert table.unit == "trials"
    x = [t.info["perplexity"] for t in study.scan]
    y = [t.retention["math"] for t in study.scan]
    c = table.get("perplexity", "math")
    expected = stats.spearmanr(x, y)
    assert c.n == 16 and c.rho == pytest.approx(expected.statistic) and c.p == pytest.approx(expected.pvalue)


@pytest.mark.parametrize("y", [[3.0, 1.0, 4.0, 1.5, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 2.0, 1.0, 3.0, 0.0]])
def test_exact_p_is_the_share_of_pairings_at_least_as_extreme(y):
    x = [0.1, 0.5, 0.2, 0.9, 0.7]
    c = correlate(x, y, metric="m", dimension="d")
    rho = stats.spearmanr(x, y).statistic
    perms = [stats.spearmanr(p, y).statistic for p in itertools.permutations(x)]
    assert c.exact and c.rho == pytest.approx(rho)
    assert c.p == pytest.approx(np.mean([abs(r) >= abs(rho) - 1e-12 for r in perms]))
    assert correlate([1, 2, 3], [10, 20, 30], metric="m", dimension="d").p == pytest.approx(1 / 3)  # not scipy's 0


def test_rho_has_a_bootstrap_interval_over_the_points_and_bh_survival(scan):
    table = spearman_table(scan.single_source(), dimensions=scan.dimensions)
    strong = table.get("perplexity", "math")  # planted: rho < -0.9 over 8 sources
    assert strong.low <= strong.rho <= strong.high and strong.high < 0
    noise = correlate([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5], metric="m", dimension="d")
    assert noise.low < noise.rho < noise.high and noise.high - noise.low > 0.3
    assert strong.survives() == (strong.q < 0.05) and not correlate([1, 2, 3], [2, 1, 3], metric="m", dimension="d").survives()
