"""Pipelines of S = 1, 2, 3 shard actors give the single-process driver's pruned weights and
evaluation scores (one-file and sharded checkpoints; sequential and independent modes)."""

from __future__ import annotations

import pytest
import ray
import torch
from transformers import AutoTokenizer

from calray.cluster import Pipeline, PipelineLM, ShardOptions, partition
from calray.evaluate import GenerationArgs, HFModel, capability_map, evaluate_capabilities
from calray.prune import PruneSettings

from .helpers import register_tiny_world
from .reference import BATCH, block_weights, independent_reference, load, max_abs_diff, sequential_reference

pytestmark = [pytest.mark.ray, pytest.mark.slow]

OPTIONS = ShardOptions(cpus=0.25, setup=register_tiny_world)


def windows(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 255, (n, 32), generator=torch.Generator().manual_seed(seed))


def assert_same_scores(got, expected) -> None:  # type: ignore[no-untyped-def]
    assert got.tasks.keys() == expected.tasks.keys()
    for task, score in expected.tasks.items():
        for metric, value in score.metrics.items():
            assert got.tasks[task].metrics[metric] == pytest.approx(value, rel=1e-4, abs=1e-6), (task, metric)


@pytest.mark.parametrize("stages,checkpoint", [(1, "tiny_dir"), (2, "tiny_dir"), (3, "sharded_dir")])
def test_pipeline_prunes_and_evaluates_like_one_process(ray_session, request, stages, checkpoint):
    model_dir = request.getfixturevalue(checkpoint)
    pipeline = Pipeline.create(str(model_dir), partition(3, stages), OPTIONS)
    try:
        ids = ray.put(windows(8, seed=stages))
        ray.get(pipeline.prune_sequential("seq", PruneSettings(sparsity=0.5, batch_size=BATCH), ids))
        expected = sequential_reference(model_dir, windows(8, seed=stages))
        assert max_abs_diff(pipeline.weights("seq"), block_weights(expected)) < 1e-5
        assert max_abs_diff(pipeline.weights(None), block_weights(load(model_dir))) == 0.0  # dense untouched

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        cmap = capability_map("tiny")
        config = expected.config
        for job, model in (("seq", expected), (None, load(model_dir))):
            got = evaluate_capabilities(PipelineLM(pipeline, job, tokenizer, config=config, batch_size=4), cmap)
            want = evaluate_capabilities(HFModel(model, tokenizer, batch_size=4, progress=False), cmap)
            assert_same_scores(got, want)
        if stages == 2:  # batches sized from the stages' free memory: the same scores
            auto = PipelineLM(pipeline, "seq", tokenizer, config=config, batch_size="auto")
            assert_same_scores(evaluate_capabilities(auto, cmap), evaluate_capabilities(
                HFModel(expected, tokenizer, batch_size=4, progress=False), cmap))
            assert [s["blocks"] for s in auto._stages] == [2, 1] and auto._memory_budget() > 0
            wide, narrow = auto._row_bytes(64, "generate", 16), auto._row_bytes(8, "generate", 16)
            assert wide is not None and narrow is not None and wide > narrow > 0

        # Greedy generation of left-padded prompts: the stages' KV caches vs transformers' generate.
        requests = [
            ("the cat", GenerationArgs(max_new_tokens=8)),
            ("a dog ran to the park and", GenerationArgs(until=(".",), max_new_tokens=6)),
        ]
        piped = PipelineLM(pipeline, "seq", tokenizer, config=config, batch_size=2).generate_until(requests)
        assert piped == HFModel(expected, tokenizer, batch_size=2, progress=False).generate_until(requests)
        assert all(d["jobs"] == ["seq"] for d in pipeline.describe())  # sessions ended, copies kept

        if stages > 1:  # independent mode: each stage solves from its mixed dense statistics
            a, b = windows(4, seed=20), windows(6, seed=21)
            for key, part in (("a", a), ("b", b)):
                ray.get(pipeline.collect(key, part, batch_size=BATCH))
            assert pipeline.missing_statistics(["a", "b", "c"]) == {"c": stages - 1}
            ray.get(pipeline.prune_independent("ind", PruneSettings(sparsity=0.5, batch_size=BATCH), [(0.25, "a"), (0.75, "b")]))
            reference = independent_reference(model_dir, [(0.25, a), (0.75, b)])
            assert max_abs_diff(pipeline.weights("ind"), block_weights(reference)) < 1e-5
        pipeline.release("seq")
        assert all(d["jobs"] == ([] if stages == 1 else ["ind"]) for d in pipeline.describe())
    finally:
        pipeline.shutdown()
