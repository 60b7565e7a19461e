"""Shard workers driven in-process (no Ray): the same results as one process, admission,
failures that name their layer, and the per-source statistics cache."""

from __future__ import annotations

import pytest
import torch

from calray.cluster import JobLost, ShardBusy, ShardMemoryError, ShardOptions, ShardWorker, StatisticsCache, partition
from calray.cluster import shard as shard_module
from calray.prune import BlockStatistics, InputStatistic, PruneSettings, PruningError, adapter_for, padded_position_ids

from .reference import BATCH, block_weights, independent_reference, load, max_abs_diff, sequential_reference

SETTINGS = PruneSettings(sparsity=0.5, batch_size=BATCH)


def windows(n: int = 6, seq: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 255, (n, seq), generator=torch.Generator().manual_seed(seed))


def workers(model_dir, stages: int, **options) -> list[ShardWorker]:  # type: ignore[no-untyped-def]
    return [ShardWorker(str(model_dir), a, b, ShardOptions(**options)) for a, b in partition(3, stages)]


def run_forward(shards, job_id, ids, mask=None):  # type: ignore[no-untyped-def]
    x = ids
    for s in shards:
        x = s.forward(job_id, x, mask)
    return x


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_sequential_pruning_over_shards_equals_one_process(tiny_dir, stages):
    ids = windows()
    expected = sequential_reference(tiny_dir, ids)
    shards = workers(tiny_dir, stages)
    x, reports = ids, []
    for s in shards:
        x, part = s.prune_sequential("job", SETTINGS, x)
        reports += part
    assert x is None  # the last stage sends nothing on
    got = {k: v for s in shards for k, v in s.weights("job").items()}
    assert max_abs_diff(got, block_weights(expected)) < 1e-5
    assert sorted(r.name for r in reports) == sorted(n.removesuffix(".weight") for n in got if n.endswith("_proj.weight"))
    assert all(r.sparsity == 0.5 for r in reports)
    # Dense blocks stay pristine: the dense forward is the unpruned model's.
    dense = load(tiny_dir)
    probe = windows(2, 12, seed=3)
    torch.testing.assert_close(run_forward(shards, None, probe), dense(probe).logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(run_forward(shards, "job", probe), expected(probe).logits, atol=1e-5, rtol=0)


def test_left_padded_forward_through_shards_matches_the_model(tiny_dir):
    shards = workers(tiny_dir, 3)
    model = load(tiny_dir)
    ids = windows(3, 10, seed=4)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    got = run_forward(shards, None, ids, mask)
    with torch.no_grad():
        expected = model(ids, attention_mask=mask, position_ids=padded_position_ids(mask)).logits
    real = mask.bool()
    assert (got[real] - expected[real]).abs().max().item() < 1e-5
    # The last stage's reductions are what TokenLM computes from full logits.
    *head, last = shards
    hidden = run_forward(head, None, ids, mask)
    nxt = last.forward(None, hidden, mask, ("next", None))
    assert torch.equal(nxt, expected[:, -1].argmax(-1))


def test_independent_mode_mixes_dense_statistics_per_source(tiny_dir):
    a, b = windows(4, 32, seed=10), windows(5, 32, seed=11)
    shards = workers(tiny_dir, 2)
    for key, ids in (("a", a), ("b", b)):  # one dense pass per source, through both stages
        x = ids
        for s in shards:
            x = s.collect(key, x, batch_size=BATCH)
    weights = {"mix": [(0.3, "a"), (0.7, "b")], "a-only": [(1.0, "a")]}
    for job, parts in weights.items():
        for s in shards:
            s.prune_independent(job, SETTINGS, parts)
    got = {j: {k: v for s in shards for k, v in s.weights(j).items()} for j in weights}
    mixed = independent_reference(tiny_dir, [(0.3, a), (0.7, b)])
    assert max_abs_diff(got["mix"], block_weights(mixed)) < 1e-5
    assert max_abs_diff(got["a-only"], block_weights(independent_reference(tiny_dir, [(1.0, a)]))) < 1e-5
    assert max_abs_diff(got["mix"], got["a-only"]) > 1e-3  # the weights matter
    # Block 0 sees the same (dense) inputs in both modes; later blocks do not.
    sequential = block_weights(sequential_reference(tiny_dir, torch.cat([a, b])))
    layer0 = [k for k in sequential if k.startswith("model.layers.0.")]
    later = [k for k in sequential if k.startswith("model.layers.2.") and k.endswith("_proj.weight")]
    assert max_abs_diff({k: got["mix"][k] for k in later}, {k: sequential[k] for k in later}) > 1e-3
    assert layer0
    # A source no shard has statistics for is named.
    with pytest.raises(Exception, match="missing-source"):
        shards[0].prune_independent("other", SETTINGS, [(1.0, "missing-source")])


def test_admission_refuses_what_cannot_fit_and_delays_what_could(tiny_dir, monkeypatch):
    shard = ShardWorker(str(tiny_dir), 0, 3, ShardOptions(max_jobs=2))
    shard.admit("a", nsamples=4, seqlen=32, batch_size=4, sequential=True)
    shard.admit("b", nsamples=4, seqlen=32, batch_size=4, sequential=True)
    with pytest.raises(ShardBusy, match="max_jobs=2"):
        shard.admit("c", nsamples=4, seqlen=32, batch_size=4, sequential=True)
    assert shard.release("a") and not shard.release("a")
    shard.admit("c", nsamples=4, seqlen=32, batch_size=4, sequential=True)
    shard.release("b")
    monkeypatch.setattr(shard_module, "free_bytes", lambda device: 64 << 10)  # 64 KiB free
    with pytest.raises(ShardBusy, match="short of memory while it holds 1 other"):  # wait for job c
        shard.admit("d", nsamples=4, seqlen=32, batch_size=4, sequential=True)
    shard.release("c")
    with pytest.raises(ShardMemoryError, match=r"4096 windows x 2048 tokens needs .* activations .* GiB.*lower nsamples"):
        shard.admit("e", nsamples=4096, seqlen=2048, batch_size=8, sequential=True)
    assert shard.describe()["jobs"] == []


def test_a_nan_job_fails_naming_its_layer_and_leaves_the_shard_clean(tiny_dir):
    shard = ShardWorker(str(tiny_dir), 0, 3)
    with torch.no_grad():  # token 255 never occurs in UTF-8 text: only this job's windows hit it
        adapter_for(shard.shard.model).model.get_input_embeddings().weight[255] = float("nan")
    bad = windows(4, 16)
    bad[0, 3] = 255
    with pytest.raises(PruningError) as info:
        shard.prune_sequential("bad", SETTINGS, bad)
    assert info.value.layer == "model.layers.0.self_attn.{q_proj,k_proj,v_proj}"
    assert "not finite" in str(info.value)
    assert shard.describe()["jobs"] == []
    shard.prune_sequential("good", SETTINGS, windows(4, 16))  # the shard keeps working
    with pytest.raises(JobLost, match="holds no pruned copy of job 'bad'"):
        shard.forward("bad", windows(1, 4))


def _entry(seed: int, width: int = 64) -> list[BlockStatistics]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(10, width, generator=g)
    stat = InputStatistic.empty("hessian", width)
    stat.add(x)
    return [BlockStatistics("hessian", {"q": ("q", "k")}, {"q": stat})]


def test_statistics_spill_to_disk_and_come_back_equal(tmp_path):
    one = 64 * 64 * 4
    cache = StatisticsCache(memory_bytes=2 * one, directory=tmp_path, disk_bytes=2 * one + 4096)
    for i in range(3):
        cache.put(f"k{i}", _entry(i))
    assert cache.keys_in_memory() == ["k1", "k2"]  # k0, least recently used, spilled
    assert len(list(tmp_path.glob("*.safetensors"))) == 1 and "k0" in cache
    back = cache.get("k0")
    original = _entry(0)[0]
    assert back is not None and back[0].groups == original.groups
    assert torch.equal(back[0].stats["q"].value, original.stats["q"].value)
    assert back[0].stats["q"].tokens == 10
    cache.put("k3", _entry(3))
    cache.put("k4", _entry(4))  # more spills; the disk keeps the newest two files only
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    assert "k4" in cache and cache.get("nothing") is None
    assert StatisticsCache(memory_bytes=one, directory=tmp_path).get("k2") is not None  # shared by a new shard


def test_generation_sessions_keep_a_kv_cache_per_shard(tiny_dir):
    """Cached decoding over 3 shards (only the new token travels) picks the tokens a full
    recomputation of the left-padded prefix picks, and ending the session frees its caches."""
    shards = workers(tiny_dir, 3)
    ids = windows(2, 7, seed=5)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    full, new = ids, ids
    for _ in range(5):
        x = new
        for s in shards:
            x = s.forward(None, x, mask, ("next", None) if s is shards[-1] else None, "gen")
        recomputed = run_forward(shards, None, full, mask)[:, -1].argmax(-1)
        assert torch.equal(x, recomputed)
        new = x[:, None]
        full = torch.cat([full, new], dim=1)
        mask = torch.cat([mask, torch.ones_like(new)], dim=1)
    assert all(len(s._sessions) == 1 for s in shards)
    for s in shards:
        s.end_session("gen")
    assert all(not s._sessions for s in shards)
