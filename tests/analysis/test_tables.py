"""Single-source, mixture-vs-single and Pareto tables against numbers computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calray.analysis import (
    comparison_table,
    load_trials,
    pareto_mixtures,
    single_source_table,
)
from calray.analysis.render import best_source_rows, markdown_table, single_source_rows
from calray.errors import CalrayError
from calray.sweep.objective import pareto_front

from .conftest import SOURCES, TAGS

DIMS = ["general", "math", "code"]


@pytest.fixture(scope="module")
def trials(study):
    return load_trials(study.uri, "study").prefer_scans()


def test_single_source_means_and_stds_over_seeds(study, trials):
    table = single_source_table(trials.rows, dimensions=DIMS, source_dimensions=trials.source_dimensions)
    assert sorted(m.label for m in table.sources) == SOURCES  # mixtures are not single sources
    totals = [m.mean("total") for m in table.sources]
    assert totals == sorted(totals, reverse=True)  # best total first
    for m in table.sources:
        seeds = [t for t in study.scan if m.label in t.weights]
        assert m.seeds == 2
        for d in DIMS:
            values = [t.retention[d] for t in seeds if math.isfinite(t.retention[d])]
            stat = m.retention[d]
            if not values:
                assert (stat.n, stat.missing) == (0, 2) and math.isnan(stat.mean)
                continue
            assert stat.mean == pytest.approx(np.mean(values)) and stat.std == pytest.approx(np.std(values, ddof=1))


def test_best_source_per_dimension_and_whether_it_is_its_own(trials):
    table = single_source_table(trials.rows, dimensions=DIMS, source_dimensions=trials.source_dimensions)
    by_mean = {d: max((m for m in table.sources if math.isfinite(m.mean(d))), key=lambda m: m.mean(d)).label for d in DIMS}
    assert {d: b.source for d, b in table.best.items() if d != "total"} == by_mean
    # planted: general rises along the sources (src7, tagged code), math falls (src0, tagged general)
    assert table.best["general"].source == "src7" and table.best["general"].own is False
    assert table.best["math"].source == "src0" and table.best["math"].tag == "general" and table.best["math"].own is False
    assert set(table.best["math"].own_sources) == {"src3", "src4", "src5"}
    assert table.best["code"].own == (TAGS[table.best["code"].source] == "code")
    assert table.leader() is None
    _, rows = best_source_rows(table)
    assert rows[0][:5] == ["general", "src7", f"{table.best['general'].retention:.1f}", "code", "no"]
    text = markdown_table(*single_source_rows(table))
    assert "| source | tag | general | math | code | total | seeds |" in text and " ± " in text and "**" in text


def test_unknown_tags_say_unknown_rather_than_guess(trials):
    table = single_source_table(trials.rows, dimensions=DIMS, source_dimensions={})
    assert table.best["math"].own is None and table.best["math"].own_sources == ()
    assert best_source_rows(table)[1][2][4] == "unknown"


def test_the_comparison_best_mixture_uniform_best_single_default(study, trials):
    rows = {r.what: r.mixture for r in comparison_table(trials.rows, dimensions=DIMS, default="src2")}
    assert list(rows) == ["best mixture", "uniform mix", "best single source", "default (src2)"]
    assert rows["best mixture"].weights == {"src0": 0.6, "src3": 0.3, "src6": 0.1}  # the FAILED 99s are not in
    assert rows["best mixture"].mean("total") == pytest.approx((70 + 80 + 55) / 3)
    assert rows["uniform mix"].mean("general") == pytest.approx(60.0)
    singles = {s: np.mean([t.total for t in study.scan if s in t.weights]) for s in SOURCES}
    best = max(singles, key=singles.get)
    assert rows["best single source"].label == best and rows["best single source"].mean("total") == pytest.approx(singles[best])
    assert rows["default (src2)"].mean("total") == pytest.approx(singles["src2"])
    with pytest.raises(CalrayError, match=r"default source 'c4' has no single-source trial.*'src0'"):
        comparison_table(trials.rows, dimensions=DIMS, default="c4")


def test_pareto_front_is_the_sweeps_front_of_the_seed_means(trials):
    front = pareto_mixtures(trials.rows, dimensions=DIMS)
    labels = {m.label for m in front}
    from calray.analysis.tables import by_mixture

    stats = by_mixture(trials.rows, DIMS)
    expected = pareto_front({m.label: tuple(m.mean(d) for d in DIMS) for m in stats})
    assert labels == set(expected)  # src7 (code undefined) is out: a NaN coordinate
    assert "src0=0.60,src3=0.30,src6=0.10" in labels and "src0=0.50,src3=0.50" not in labels


def test_no_single_source_trials_is_one_clear_error(study):
    mixtures = load_trials(study.uri, "no-scan")
    with pytest.raises(CalrayError, match="no single-source trials"):
        single_source_table(mixtures.rows, dimensions=DIMS, source_dimensions={})
