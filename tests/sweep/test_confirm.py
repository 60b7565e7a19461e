"""Confirmation: a sweep that reports a winner re-runs its top mixtures, the uniform mix, the best
single source and a reference in sequential mode over several seeds; the runs are recorded
(read back through MlflowClient) apart from the search trials, and the headline table with
intervals and verdicts is built from them alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from calray.analysis import load_trials
from calray.analysis.confirmed import read_headlines
from calray.analysis.load import list_sweeps
from calray.sweep import load_sweep_config, run_sweep
from calray.sweep.tracking import CONFIRMATION, CONFIRMS, HEADLINE, KIND, PARENT, ROLE, SEED, Tracker

from .conftest import sweep_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

MIXTURES = ["tiny:words=1", {"tiny:words": 0.5, "tiny:numbers": 0.5}, {"tiny:numbers": 0.5, "tiny:letters": 0.5}]


@pytest.fixture(scope="module")
def confirmed(ray_session, model_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("confirm")
    config = load_sweep_config(data=sweep_config(model_dir, tmp, name="confirmed",
                                                 search={"algorithm": "list", "mixtures": MIXTURES},
                                                 confirm={"top_k": 2, "seeds": 2}))
    result = run_sweep(config, references={"default (tiny:letters)": {"tiny:letters": 1.0}})
    return result, MlflowClient(result.tracking_uri)


def test_confirmation_runs_are_recorded_as_children_of_the_sweep(confirmed):
    result, client = confirmed
    experiment = client.get_experiment_by_name(result.experiment).experiment_id
    children = client.search_runs([experiment], filter_string=f"tags.`{PARENT}` = '{result.parent_run_id}'")
    runs = [r for r in children if r.data.tags[KIND] == CONFIRMATION]
    assert sum(r.data.tags[KIND] == "trial" for r in children) == 3  # the search's own trials, unchanged
    top = sorted(result.finished(), key=lambda t: -t.metrics["objective"])
    top2 = list(dict.fromkeys(t.label for t in top))[:2]
    by_mixture: dict[str, list] = {}
    for r in runs:
        by_mixture.setdefault(r.data.tags["calray.mixture"], []).append(r)
    # top 2 + the uniform mix + the sweep's best single source (tiny:words, its only one) + the reference
    expected = {*top2, "tiny:letters=0.33,tiny:numbers=0.33,tiny:words=0.33", "tiny:words", "tiny:letters"}
    assert set(by_mixture) == expected and len(runs) == 2 * len(expected) == len(result.confirmations)
    assert sorted(c["run_id"] for c in result.summary()["confirmations"]) == sorted(r.info.run_id for r in runs)
    for group in by_mixture.values():
        assert sorted(r.data.tags[SEED] for r in group) == ["0", "1"]
        for r in group:
            assert r.info.status == "FINISHED" and r.data.tags[ROLE] == CONFIRMATION
            assert r.data.params["mode"] == "sequential" and r.data.params["limit"] == "null"
            assert r.data.params["seed"] == r.data.tags[SEED]
            assert {"retention/total", "items/tiny_mc", "stderr/tiny_mc"} <= set(r.data.metrics)
            assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {"job_result.json", "item_scores.json"}
    best = by_mixture[top2[0]][0]
    assert best.data.tags[HEADLINE].split("; ")[0] == "best mixture" and best.data.tags[CONFIRMS] == top[0].trial_id
    assert "default (tiny:letters)" in by_mixture["tiny:letters"][0].data.tags[HEADLINE]
    # the seeds differ: the two seeds of a mixture were pruned on different windows
    job = [json.loads(Path(client.download_artifacts(r.info.run_id, "job_result.json")).read_text())
           for r in by_mixture[top2[0]]]
    assert all(j["mode"] == "sequential" for j in job)
    # the analysis of the search's trials does not mix the confirmations in
    assert len(load_trials(result.tracking_uri, result.experiment).rows) == 3


def test_the_headline_table_comes_from_the_confirmations_with_intervals(confirmed):
    result, _ = confirmed
    tracker = Tracker(result.tracking_uri, result.experiment)
    sweep = next(s for s in list_sweeps(tracker) if s.sweep_id == result.sweep_id)
    headlines = read_headlines(tracker, sweep, resamples=200)
    assert headlines is not None and headlines.failed == 0
    roles = [r.role for r in headlines.rows]
    assert roles == ["best mixture", "top 2", "uniform mix", "best single source", "default (tiny:letters)"]
    for row in headlines.rows:
        runs = [c for c in result.confirmations if c.label == row.label]
        mean = sum(c.metrics["retention/total"] for c in runs) / len(runs)
        total = row.retention["total"]
        assert row.seeds == 2 and total.estimate == pytest.approx(mean) and total.low <= total.estimate <= total.high
    assert [v.other for v in headlines.verdicts] == ["uniform mix", "best single source"]
    text = headlines.sentence()
    assert text.startswith("The best mixture ") and "confirmed in sequential mode on 2 calibration seeds" in text
