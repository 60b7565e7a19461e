"""A sweep on the session's local Ray: trials recorded in MLflow (read back through
MlflowClient) exactly once although a shard is killed mid-sweep; `calray runs` and
`calray export` on what it recorded."""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import threading
import time
from pathlib import Path

import pytest
import ray
import torch
from mlflow import MlflowClient
from safetensors.torch import load_file

from calray.cli import main
from calray.cluster import start_pool
from calray.sweep import load_sweep_config, plan_sweep, run_sweep
from calray.sweep.tracking import KIND, PARENT, SWEEP_ID, TRIAL_KEY

from .conftest import sweep_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

POOL = "calray-test-sweep"


class ShardKiller(threading.Thread):
    """Kills the second stage of the pipeline once, while some trial's job is evaluating."""

    def __init__(self, pool) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.pool = pool
        self.stop = threading.Event()
        self.killed: str | None = None

    def run(self) -> None:
        while not self.stop.is_set() and self.killed is None:
            evaluating = [s for s in self.pool.status() if s["phase"] == "evaluate"]
            if evaluating:
                ray.kill(self.pool.shards()[0][1], no_restart=False)
                self.killed = evaluating[0]["name"]
            time.sleep(0.01)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("sweep")


@pytest.fixture(scope="module")
def pool(ray_session, model_dir, sweep_dir):  # type: ignore[no-untyped-def]
    """One pool (a pipeline of two stages) for this module's sweeps."""
    config = load_sweep_config(
        data=sweep_config(model_dir, sweep_dir, pool={**sweep_config(model_dir, sweep_dir)["pool"], "stages": 2})
    )
    plan = plan_sweep(config)
    client = start_pool(plan.pool_config, name=POOL, setup=plan.setup)
    yield client
    client.shutdown()


@pytest.fixture(scope="module")
def swept(pool, model_dir, sweep_dir):  # type: ignore[no-untyped-def]
    config = load_sweep_config(data=sweep_config(model_dir, sweep_dir))
    before = pool.capacity()["retried"]
    killer = ShardKiller(pool)
    killer.start()
    try:
        result = run_sweep(config, pool=pool)
    finally:
        killer.stop.set()
        killer.join()
    capacity = {**pool.capacity(), "retried": pool.capacity()["retried"] - before}
    return result, capacity, killer.killed, MlflowClient(result.tracking_uri), sweep_dir


def trial_runs(client, result):  # type: ignore[no-untyped-def]
    experiment = client.get_experiment_by_name(result.experiment)
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`{PARENT}` = '{result.parent_run_id}'")


def test_every_trial_is_recorded_once_with_params_and_metrics_per_dimension(swept, model_dir):
    result, capacity, killed, client, _ = swept
    assert killed is not None, "the shard killer never saw a job evaluating"
    assert capacity["retried"] >= 1  # the jobs on the killed shard ran again...
    runs = trial_runs(client, result)
    assert len(result.trials) == 6 and len(runs) == 6  # ...and each of their trials still has one run
    assert sorted(r.data.tags[TRIAL_KEY] for r in runs) == sorted(f"{result.sweep_id}/{t.trial_id}" for t in result.trials)
    assert {r.info.status for r in runs} == {"FINISHED"}
    by_id = {r.info.run_id: r for r in runs}
    # the seed points come first: each source alone and the uniform mix, then TPE's proposals
    labels = [t.label for t in result.trials]
    assert {"tiny:words", "tiny:numbers", "tiny:letters"} <= set(labels)
    assert "tiny:letters=0.33,tiny:numbers=0.33,tiny:words=0.33" in labels
    for trial in result.trials:
        run = by_id[trial.run_id]
        params, metrics = run.data.params, run.data.metrics
        weights = {s: float(params[f"weight/{s}"]) for s in ("tiny:words", "tiny:numbers", "tiny:letters")}
        assert weights == pytest.approx(trial.weights) and math.isclose(sum(weights.values()), 1.0)
        assert sum(int(v) for k, v in params.items() if k.startswith("count/")) == 8
        assert params["method"] == "sparsegpt" and params["sparsity"] == "0.5" and params["mode"] == "independent"
        assert params["nsamples"] == "8" and params["seqlen"] == "32" and params["seed"] == "0"
        assert params["model"] == str(model_dir)
        assert metrics["retention/general"] == pytest.approx(trial.metrics["retention/general"])
        assert metrics["retention/total"] == pytest.approx(trial.metrics["objective"])
        assert {"score/tiny_mc/acc", "score/tiny_gen/exact_match", "calibration/perplexity", "calibration/ngram_diversity",
                "pruning/mean_layer_error", "pruning/seconds"} <= set(metrics)
        assert metrics["pruning/sparsity"] == pytest.approx(0.5)
        assert run.data.tags[KIND] == "trial" and run.data.tags[SWEEP_ID] == result.sweep_id
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"mixture.json", "job_result.json", "item_scores.json"}
        items = json.loads(Path(client.download_artifacts(run.info.run_id, "item_scores.json")).read_text())
        acc = items["pruned"]["tiny_mc"]["acc"]
        assert set(acc) <= {0, 1} and len(acc) == metrics["items/tiny_mc"] == len(items["dense"]["tiny_mc"]["acc"])
        assert sum(acc) / len(acc) == pytest.approx(metrics["score/tiny_mc/acc"])
        assert metrics["stderr/tiny_mc"] == pytest.approx((statistics.stdev(acc) if len(set(acc)) > 1 else 0.0) / len(acc) ** 0.5)
    attempts = [json.loads(Path(client.download_artifacts(r.info.run_id, "job_result.json")).read_text())["attempts"]
                for r in runs]
    assert max(attempts) == 2 and attempts.count(2) == capacity["retried"]  # re-run inside the pool, recorded once
    # different mixtures, different results: the trials did not all evaluate one model
    assert len({round(t.metrics["retention/general"], 6) for t in result.trials}) >= 4


def test_the_sweep_run_holds_config_dense_scores_and_summary(swept):
    result, _, _, client, _ = swept
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags[KIND] == "sweep"
    assert parent.data.tags["calray.git_commit"] and parent.data.tags["calray.version"]
    assert {a.path for a in client.list_artifacts(result.parent_run_id)} == {"config.yaml", "summary.json"}
    assert parent.data.metrics["dense/tiny_mc/acc"] == pytest.approx(result.dense["tiny_mc"]["acc"])
    assert parent.data.metrics["best/objective"] == pytest.approx(result.best().metrics["objective"])
    dense = client.get_run(parent.data.tags["calray.dense_run"])
    assert dense.data.tags[KIND] == "dense" and dense.info.status == "FINISHED"
    assert dense.data.metrics["score/tiny_mc/acc"] == pytest.approx(result.dense["tiny_mc"]["acc"])
    experiment = client.get_experiment_by_name(result.experiment)
    assert not client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'RUNNING'")


def test_calray_runs_lists_the_trials_best_first(swept, capsys):
    result, _, _, _, tmp = swept
    assert main(["runs", "--tracking-uri", result.tracking_uri, "--experiment", "test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["run", "name", "status"] and "general" in lines[0] and "total" in lines[0]
    rows = lines[2:]
    assert len(rows) == 6 and rows[0].split()[0] == result.best().run_id
    totals = [float(r.split()[-2]) for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert main(["runs", "--tracking-uri", result.tracking_uri, "--experiment", "test", "--kind", "dense"]) == 0
    assert "score/tiny_mc/acc" in capsys.readouterr().out
    assert main(["runs", "--tracking-uri", result.tracking_uri, "--experiment", "nope"]) == 2


def test_calray_export_reprunes_the_trial_exactly(swept, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from calray.evaluate import HFModel, capability_map, evaluate_capabilities

    result, _, _, client, _ = swept
    trial = next(t for t in result.trials if t.label.count("=") == 3)  # a proper mixture of the three
    out = tmp_path / "export"
    assert main(["export", "--run", trial.run_id[:10], "--out", str(out), "--tracking-uri", result.tracking_uri,
                 "--experiment", "test"]) == 0
    assert f"exported run {trial.run_id}" in capsys.readouterr().out
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["totals"]["sparsity"] == pytest.approx(0.5) and report["config"]["mode"] == "independent"
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    scores = evaluate_capabilities(HFModel(model, AutoTokenizer.from_pretrained(out), progress=False), capability_map("tiny"))
    recorded = client.get_run(trial.run_id).data.metrics
    for task, score in scores.tasks.items():
        for metric, value in score.metrics.items():
            key = f"score/{task}/{metric}"
            assert recorded[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key  # the model the trial evaluated
    assert client.get_run(trial.run_id).data.tags["calray.exported_to"] == str(out.resolve())
    if importlib.util.find_spec("compressed_tensors"):  # the same weights, with the compressed-tensors config block
        ct = tmp_path / "export-ct"
        assert main(["export", "--run", trial.run_id, "--out", str(ct), "--format", "compressed-tensors", "--tracking-uri",
                     result.tracking_uri, "--experiment", "test"]) == 0
        config = json.loads((ct / "config.json").read_text())["quantization_config"]
        assert config["sparsity_config"]["sparsity_structure"] == "unstructured"
        expected = load_file(out / "model.safetensors")
        assert all(torch.equal(t, expected[k]) for k, t in load_file(ct / "model.safetensors").items())
    assert main(["export", "--run", result.parent_run_id, "--out", str(tmp_path / "x"), "--tracking-uri",
                 result.tracking_uri, "--experiment", "test"]) == 2  # a sweep run is not a trial


def test_multi_fidelity_stops_poor_mixtures_early_and_evaluates_the_best_fully(pool, model_dir, sweep_dir):
    config = load_sweep_config(data=sweep_config(
        model_dir, sweep_dir, name="fidelity", search={"algorithm": "random", "num_samples": 6, "seed": 1, "max_concurrent": 1},
        fidelity={"limits": [1, 2], "top_k": 2},
    ))
    result = run_sweep(config, pool=pool)
    client = MlflowClient(result.tracking_uri)
    runs = {r.info.run_id: r for r in trial_runs(client, result)}
    assert len(runs) == 6 and {r.info.status for r in runs.values()} == {"FINISHED"}
    stopped = [r for r in runs.values() if r.data.tags.get("calray.stopped_early") == "true"]
    full = [r for r in runs.values() if r.data.tags["calray.fidelity"] == "full"]
    assert stopped and len(full) == 2  # ASHA stopped some at the first level; the best two ran on every item
    for run in stopped:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "retention/total")] == [0]
        assert run.data.metrics["fidelity/limit"] == 1
    for run in full:
        history = client.get_metric_history(run.info.run_id, "retention/total")
        assert [m.step for m in history] == [0, 1, 2]  # limit 1, limit 2, then the full map
    best = result.best()
    assert best is not None and best.full and best.run_id in {r.info.run_id for r in full}
