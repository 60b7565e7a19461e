"""Reading a study back from MLflow: one row per finished trial, with what the sweep recorded."""

from __future__ import annotations

import math

import pytest

from calray.analysis import list_sweeps, load_trials, open_experiment, select_sweeps
from calray.errors import CalrayError

from .conftest import MIXED, SOURCES, TAGS


def test_rows_carry_weights_seed_setting_retention_and_information_metrics(study):
    trials = load_trials(study.uri, "study", sweeps=["scan"])
    assert len(trials.rows) == len(study.scan) == 16
    assert trials.dimensions == ["general", "math", "code"]  # the tables' order (calray.format)
    assert trials.info_metrics == ["constant", "perplexity", "seq_rep_4"]
    assert trials.source_dimensions == TAGS
    by_key = {(r.single, r.seed): r for r in trials.rows}
    for t in study.scan:
        row = by_key[(next(iter(t.weights)), t.seed)]
        assert row.weights == {s: (1.0 if s in t.weights else 0.0) for s in SOURCES}
        assert row.setting["model"] == "toy" and row.setting["sparsity"] == "0.6" and row.setting["mode"] == "independent"
        for d, v in t.retention.items():
            assert row.value(d) == pytest.approx(v) if math.isfinite(v) else d not in row.retention
        assert row.total == pytest.approx(t.total)
        for m, v in t.info.items():
            assert row.info.get(m, math.nan) == pytest.approx(v, nan_ok=True)


def test_failed_trials_are_counted_not_analysed(study):
    trials = load_trials(study.uri, "study", sweeps=["mix"])
    assert len(trials.rows) == 5 and trials.skipped == {"FAILED": 1}
    assert len(trials.mixtures()) == 4 and [r.single for r in trials.single_source()] == ["src0"]
    assert [s for s in trials.rows[0].weights] == MIXED  # the sweep's source order


def test_every_sweep_by_default_and_an_arrow_table_with_nulls(study):
    trials = load_trials(study.uri, "study")
    assert {s.name for s in trials.sweeps} == {"scan", "mix"} and len(trials.rows) == 21
    table = trials.to_arrow()
    assert table.num_rows == 21
    assert {"weight/src0", "retention/math", "retention/total", "calibration/perplexity", "seed", "model"} <= set(
        table.column_names
    )
    code = table.column("retention/code").to_pylist()
    assert code.count(None) == 2  # src7's two seeds: undefined, null rather than NaN
    assert table.column("weight/src5").to_pylist()[-1] == 0.0  # absent in the mixture sweep's rows: weight 0


def test_selecting_sweeps_by_name_id_or_all(study):
    sweeps = list_sweeps(open_experiment(study.uri, "two-models"))
    assert [(s.name, s.sweep_id, s.is_scan) for s in sweeps] == [("scan", "a1", True), ("scan-other", "b1", True)]
    assert select_sweeps(sweeps, "b1") == [sweeps[1]]
    assert select_sweeps(sweeps, "scan") == [sweeps[0]]
    assert select_sweeps(sweeps, "all") == sweeps
    with pytest.raises(CalrayError, match=r"no sweep named or with id 'nope'.*scan \(a1\)"):
        select_sweeps(sweeps, "nope")


def test_an_unknown_experiment_is_one_clear_error(study):
    with pytest.raises(CalrayError, match=r"no experiment 'nope' in sqlite:///.*'study'"):
        load_trials(study.uri, "nope")


def test_mixed_pruning_settings_are_refused(study):
    trials = load_trials(study.uri, "two-models", sweeps=["all"])
    with pytest.raises(CalrayError, match=r"mix pruning settings \{'model': \['other-model', 'toy'\]\}"):
        trials.setting()
    assert load_trials(study.uri, "two-models", sweeps=["scan"]).setting()["model"] == "toy"


def test_a_mixture_sweeps_single_sources_give_way_to_the_scans(study):
    trials = load_trials(study.uri, "study").prefer_scans()
    assert len(trials.rows) == 20 and trials.repeats == 1
    assert {r.sweep_name for r in trials.single_source()} == {"scan"} and len(trials.scan_rows()) == 16
    alone = load_trials(study.uri, "study", sweeps=["mix"])
    assert alone.prefer_scans() is alone  # no scan selected: nothing to prefer
