"""The pool actor: concurrent jobs over two pipelines, results equal to one process, the
independent mode's statistics reuse, structured failures, and a shard killed mid-job."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import ray
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from calray.cluster import Calibration, Job, JobResult, PoolConfig, connect_pool, start_pool
from calray.data import build_calibration
from calray.errors import CalrayError
from calray.evaluate import HFModel, capability_map, evaluate_capabilities, retention
from calray.tiny import save_tiny_model

from .helpers import register_tiny_world
from .reference import BATCH, load, sequential_reference

pytestmark = [pytest.mark.ray, pytest.mark.slow]

POOL = "calray-test-pool"
MIXTURE = "tiny:words=1,tiny:numbers=1"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with token 255's embedding set to NaN: UTF-8 text never contains byte
    255, so every job is unaffected except one whose explicit windows contain that token."""
    directory = save_tiny_model("llama", tmp_path_factory.mktemp("nan-row-llama"), num_blocks=3)
    tensors = load_file(directory / "model.safetensors")
    tensors["model.embed_tokens.weight"][255] = float("nan")
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    return directory


@pytest.fixture(scope="module")
def pool(ray_session, model_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    cache = tmp_path_factory.mktemp("pool-cache")
    config = PoolConfig(
        model=str(model_dir), pipelines=2, stages=2, cpus_per_shard=0.25, eval_batch_size=4,
        dense_cache_dir=str(cache / "dense"), calibration_cache_dir=str(cache), stats_dir=str(cache / "stats"),
    )
    client = start_pool(config, name=POOL, setup=register_tiny_world)
    yield client
    client.shutdown()


def job(name: str, mode: str = "sequential", mixture: str | dict[str, float] = MIXTURE, *, sparsity: float | None = 0.5,
        n_m: str | None = None, capability_map: str | dict = "tiny", calibration_metrics: str = "none",
        anchor: str | None = None) -> Job:
    return Job(calibration=Calibration(mixture=mixture, nsamples=8, seqlen=32), name=name,
               prune={"sparsity": sparsity, "n_m": n_m, "mode": mode, "batch_size": BATCH, "anchor": anchor},
               evaluation={"capability_map": capability_map}, calibration_metrics=calibration_metrics)


def stage_activity(pool, what: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for p in pool.activity() for stage in p for entry in stage if entry[0] == what)


def test_concurrent_jobs_spread_over_pipelines_and_equal_one_process(pool, model_dir, tmp_path):
    jobs = [job("seq"), job("ind", "independent"), job("seq-2:4", n_m="2:4", sparsity=None),
            job("ind-words", "independent", {"tiny:words": 1.0})]
    results: list[JobResult] = ray.get([pool.submit(j) for j in jobs])
    assert [r.status for r in results] == ["ok"] * 4, [r.error for r in results]
    assert [r.mode for r in results] == ["sequential", "independent", "sequential", "independent"]
    assert {r.pipeline for r in results} == {0, 1}  # least-loaded balancing used both
    assert all(r.attempts == 1 for r in results)
    assert results[2].pruning["sparsity"] == pytest.approx(0.5)

    # The sequential job equals the single-process driver on the same calibration windows.
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    calib = build_calibration(tokenizer, MIXTURE, nsamples=8, seqlen=32, seed=0, cache_dir=tmp_path)
    assert results[0].calibration["id"] == calib.id and results[0].calibration["counts"] == calib.counts
    cmap = capability_map("tiny")
    pruned = evaluate_capabilities(HFModel(sequential_reference(model_dir, calib.input_ids), tokenizer, progress=False), cmap)
    dense = evaluate_capabilities(HFModel(load(model_dir), tokenizer, progress=False), cmap)
    expected = retention(pruned, dense)
    assert results[0].total == pytest.approx(expected.total, rel=1e-4)
    for task, score in pruned.tasks.items():
        for metric, value in score.metrics.items():
            assert results[0].scores[task][metric] == pytest.approx(value, rel=1e-4, abs=1e-6)
            assert results[0].dense_scores[task][metric] == pytest.approx(dense.tasks[task].metrics[metric], rel=1e-4, abs=1e-6)
        for key, values in score.items.items():  # and so does what each item contributed (for intervals)
            assert results[0].item_scores[task][key] == pytest.approx(values, rel=1e-4, abs=1e-6), (task, key)
            assert results[0].dense_item_scores[task][key] == pytest.approx(dense.tasks[task].items[key], rel=1e-4, abs=1e-6)
    assert {row["task"]: row["n"] for row in results[0].tasks} == {t: s.n for t, s in pruned.tasks.items()}
    assert results[0].metrics()["stderr/tiny_mc"] == pytest.approx(pruned.tasks["tiny_mc"].stderr("acc"))
    assert results[1].total != pytest.approx(results[0].total)  # the two modes differ

    # Each shard computes one thing at a time (its compute group has one thread), jobs interleaving.
    for pipeline in pool.activity():
        for stage in pipeline:
            spans = sorted((start, end) for _, _, start, end in stage)
            assert all(later[0] >= earlier[1] - 1e-3 for earlier, later in zip(spans, spans[1:], strict=False))
            assert len({job for _, job, _, _ in stage}) > 2

    capacity = pool.capacity()
    assert capacity["slots"] == 4 and capacity["devices"] == 4 and capacity["device"] == "cpu"
    assert capacity["in_flight"] == 0 and capacity["completed"] >= 4


def test_independent_mixtures_reuse_per_source_statistics_of_their_allocated_windows(pool):
    first = pool.prune_and_evaluate(job("ind-a", "independent", {"tiny:words": 0.9, "tiny:numbers": 0.1}))
    passes = stage_activity(pool, "statistics")
    # Other weights, the same allocation of the 8 windows (7 + 1): sequential mode's very calibration set.
    second = pool.prune_and_evaluate(job("ind-b", "independent", {"tiny:words": 0.88, "tiny:numbers": 0.12}))
    assert first.ok and second.ok
    assert stage_activity(pool, "statistics") == passes  # no calibration forward pass for it
    assert second.calibration["weights"] == pytest.approx({"tiny:numbers": 0.12, "tiny:words": 0.88})
    assert first.calibration["counts"] == second.calibration["counts"] == {"tiny:numbers": 1, "tiny:words": 7}
    assert second.scores == first.scores
    third = pool.prune_and_evaluate(job("ind-c", "independent", {"tiny:words": 0.1, "tiny:numbers": 0.9}))
    assert third.ok and third.scores != first.scores
    assert stage_activity(pool, "statistics") > passes  # 1 + 7 windows: new statistics


def test_an_anchor_is_pruned_once_per_pipeline_and_on_its_own_mixture_gives_sequential_mode(pool):
    sequential = pool.prune_and_evaluate(job("a-seq"))
    results = [pool.prune_and_evaluate(job(f"a-{i}", "independent", mixture, anchor=MIXTURE))
               for i, mixture in enumerate([MIXTURE, {"tiny:words": 0.9, "tiny:numbers": 0.1}, MIXTURE, MIXTURE])]
    assert all(r.ok for r in results), [r.error for r in results]
    built = [r for r in results if "anchor" in r.timings]
    assert 1 <= len(built) <= 2 and len(built) == len({r.pipeline for r in results})  # once per pipeline used
    assert all(r.timings["anchor"] > 0 for r in built)
    for anchored in (results[0], results[2], results[3]):  # statistics through the anchor are sequential mode's
        assert anchored.total == pytest.approx(sequential.total, rel=1e-4)
        for task, metrics in sequential.scores.items():
            assert anchored.scores[task] == pytest.approx(metrics, rel=1e-4, abs=1e-6)
    plain = pool.prune_and_evaluate(job("a-plain", "independent", MIXTURE))
    assert plain.scores != sequential.scores  # without the anchor: the dense model's inputs


def test_a_failing_job_returns_its_layer_and_the_pool_keeps_serving(pool):
    windows = torch.randint(0, 255, (4, 16), generator=torch.Generator().manual_seed(0))
    windows[1, 5] = 255  # the poisoned token: NaN activations
    for mode in ("sequential", "independent"):
        bad = Job(calibration=Calibration(windows=windows), prune={"sparsity": 0.5, "mode": mode},
                  evaluation={"capability_map": "tiny"}, calibration_metrics="none", name="nan")
        result = pool.prune_and_evaluate(bad)
        assert result.status == "failed" and result.mode == mode
        assert result.error is not None and result.error.kind == "PruningError"
        assert result.error.layer is not None and result.error.layer.startswith("model.layers.0")  # the first block
        assert "not finite" in result.error.reason or "NaN" in result.error.reason
        assert result.scores == {} and result.total is None
    assert pool.prune_and_evaluate(job("after-failure")).ok
    held = [j for p in pool.shards() for d in ray.get([s.describe.remote() for s in p]) for j in d["jobs"]]
    assert all(j.startswith("anchor-") for j in held), held  # only the anchors are kept (by design)
    with pytest.raises(CalrayError, match="unknown task|did you mean"):
        pool.prune_and_evaluate(job("bad-map", capability_map={"dimensions": {"x": [{"task": "no_such_task"}]}}))


def test_a_killed_shard_restarts_and_its_job_is_rerun_exactly_once(pool):
    undisturbed = pool.prune_and_evaluate(job("undisturbed"))
    before = pool.capacity()
    client = connect_pool(POOL)  # what a Tune trial in another process does
    for _ in range(5):  # kill while the job evaluates on its pruned copies (a tiny job is quick)
        ref = client.submit(job("killed"))
        victim = None
        while victim is None and not ray.wait([ref], timeout=0)[0]:
            running = [s for s in client.status() if s["name"] == "killed" and s["phase"] == "evaluate"]
            if running:
                victim = client.shards()[running[0]["pipeline"]][1]
                old = ray.get(victim.describe.remote())["incarnation"]
                ray.kill(victim, no_restart=False)
        result = ray.get(ref)
        if victim is not None:
            break
    assert victim is not None, "never caught the job while it evaluated"
    assert result.ok and result.attempts == 2
    assert result.total == pytest.approx(undisturbed.total) and result.scores == undisturbed.scores
    assert result.retention == undisturbed.retention
    after = pool.capacity()
    assert after["retried"] == before["retried"] + 1
    assert after["completed"] == before["completed"] + 1  # recorded once
    assert ray.get(victim.describe.remote())["incarnation"] != old  # restarted, slice reloaded
    assert pool.prune_and_evaluate(job("after-restart")).ok


def test_a_pool_that_cannot_start_says_why(ray_session, tiny_dir, tmp_path):
    with pytest.raises(CalrayError, match=r"needs 32 CPUs and 0 GPUs, but the Ray cluster has 2 CPUs.*ray status"):
        start_pool(PoolConfig(model=str(tmp_path), pipelines=8, stages=4), name="too-big")
    with pytest.raises(CalrayError, match=r"failed to start: directory .* has no config.json"):
        start_pool(PoolConfig(model=str(tmp_path), cpus_per_shard=0.25), name="no-model")
    with pytest.raises(CalrayError, match="no pool named 'no-model'"):
        connect_pool("no-model")
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_dir, truncated)
    os.truncate(truncated / "model.safetensors", 1000)
    with pytest.raises(CalrayError, match=r"failed to start: model .*truncated.*: model.safetensors \(1000 bytes\) is truncated"):
        start_pool(PoolConfig(model=str(truncated), cpus_per_shard=0.25), name="truncated")


def test_calibration_metrics_describe_the_allocated_set_in_both_modes(pool, model_dir, tmp_path):
    from calray.data import information_metrics

    mixture = {"tiny:words": 0.75, "tiny:numbers": 0.25}
    seq, ind = ray.get([pool.submit(job("m-seq", mixture=mixture, calibration_metrics="all")),
                        pool.submit(job("m-ind", "independent", mixture, calibration_metrics="all"))])
    assert seq.ok and ind.ok
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    calib = build_calibration(tokenizer, mixture, nsamples=8, seqlen=32, seed=0, cache_dir=tmp_path)
    expected = information_metrics(calib.input_ids, tokenizer=tokenizer, model=load(model_dir), progress=False)
    for result in (seq, ind):  # independent mode describes the same allocation (6 + 2 windows)
        got = result.calibration["metrics"]
        assert set(got) == {k for k, v in expected.items() if v == v}
        for name, value in got.items():
            assert value == pytest.approx(expected[name], rel=1e-4), name
        assert result.metrics()["calibration/perplexity"] == pytest.approx(expected["perplexity"], rel=1e-4)
    tokens_only = pool.prune_and_evaluate(job("m-tok", mixture={"tiny:words": 1.0}, calibration_metrics="tokens"))
    assert "perplexity" not in tokens_only.calibration["metrics"] and "ngram_diversity" in tokens_only.calibration["metrics"]
    assert "metrics" not in pool.prune_and_evaluate(job("m-none", mixture={"tiny:words": 1.0})).calibration
    assert pool.dense_scores(job("dense-only")) == seq.dense_scores  # the pool's one dense evaluation
