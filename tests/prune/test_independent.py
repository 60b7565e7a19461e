"""Independent mode's allocated windows and anchor, against sequential mode on the toy model's
real calibration sources: where both modes see the same inputs they must agree to rounding."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from calray.data import build_calibration
from calray.models import resolve_model
from calray.prune import (
    METHODS,
    BlockStatistics,
    PruneSettings,
    Target,
    adapter_for,
    collect_statistics,
    dense_statistics,
    embed_samples,
    find_linears,
    load_pretrained,
    prefix_statistics,
    prune_mixed,
    prune_model,
)

MIXTURE = {"toy:web": 1.0, "toy:gsm": 1.0, "toy:code": 2.0}
N, SEQLEN = 10, 48


@pytest.fixture(scope="module")
def toy():  # type: ignore[no-untyped-def]
    model, tokenizer = load_pretrained(resolve_model("toy"))
    calib = build_calibration(tokenizer, MIXTURE, nsamples=N, seqlen=SEQLEN, seed=0, use_cache=False)
    # Each source's own stream of N windows: what a cache of per-source statistics holds.
    streams = {s: build_calibration(tokenizer, {s: 1.0}, nsamples=N, seqlen=SEQLEN, seed=0, use_cache=False).input_ids
               for s in MIXTURE}
    return model, calib, streams


def allocated_parts(model, calib, streams, *, through=None):  # type: ignore[no-untyped-def]
    """(n_s / N, per-block statistics of source s's first n_s windows), from its whole stream."""
    adapter = adapter_for(model)
    parts = []
    for source, count in calib.counts.items():
        hidden = embed_samples(model, streams[source], batch_size=4)
        passes = prefix_statistics(adapter.blocks, hidden, adapter.block_args(), [count, N], through=through,
                                   prefix=adapter.blocks_path, batch_size=4)
        parts.append((count / calib.nsamples, [stats[count] for stats, _ in passes]))
    return parts


def assert_statistics_close(got: BlockStatistics, expected: BlockStatistics) -> None:
    assert got.groups == expected.groups
    for key, stat in expected.stats.items():
        assert got.stats[key].tokens == stat.tokens
        torch.testing.assert_close(got.stats[key].value, stat.value, rtol=1e-5, atol=1e-6, msg=key)


def test_allocated_window_statistics_equal_the_sequential_statistics_of_block_0(toy):  # type: ignore[no-untyped-def]
    model, calib, streams = toy
    assert calib.counts == {"toy:code": 5, "toy:gsm": 3, "toy:web": 2}  # unequal shares: a real allocation
    adapter = adapter_for(model)
    block = adapter.blocks[0]
    linears = find_linears(block, prefix=f"{adapter.blocks_path}.0")
    sequential = collect_statistics(block, linears, embed_samples(model, calib.input_ids), adapter.block_args(), index=0,
                                    batch_size=4)
    parts = allocated_parts(model, calib, streams)
    assert_statistics_close(BlockStatistics.mix([(w, stats[0]) for w, stats in parts]), sequential)
    # Every source's whole stream instead (the former independent mode) is another statistic.
    whole = BlockStatistics.mix([(w, next(dense_statistics(adapter.blocks[:1], embed_samples(model, streams[s]),
                                                           adapter.block_args(), prefix=adapter.blocks_path))[0])
                                 for s, w in zip(sorted(MIXTURE), (0.5, 0.25, 0.25), strict=True)])
    assert not torch.allclose(whole.stats[next(iter(sequential.stats))].value, next(iter(sequential.stats.values())).value)


def test_prefix_statistics_of_every_count_equal_statistics_of_that_many_windows(toy):  # type: ignore[no-untyped-def]
    model, _, streams = toy
    adapter = adapter_for(model)
    hidden = embed_samples(model, streams["toy:gsm"])
    passes = prefix_statistics(adapter.blocks[:2], hidden, adapter.block_args(), [7, 3, 1], prefix=adapter.blocks_path)
    for stats, _ in passes:
        assert sorted(stats) == [1, 3, 7]
    for n in (1, 3, 7):
        direct = dense_statistics(adapter.blocks[:2], hidden[:n], adapter.block_args(), prefix=adapter.blocks_path)
        prefixed = prefix_statistics(adapter.blocks[:2], hidden, adapter.block_args(), [n, 7], prefix=adapter.blocks_path)
        for (expected, _), (got, _) in zip(direct, prefixed, strict=True):
            assert_statistics_close(got[n], expected)
    with pytest.raises(ValueError, match="must lie in 1..10"):
        next(prefix_statistics(adapter.blocks, hidden, adapter.block_args(), [11]))


def test_anchored_on_its_own_mixture_independent_mode_prunes_as_sequential_mode(toy):  # type: ignore[no-untyped-def]
    """Statistics collected through an anchor pruned sequentially on the same mixture are the
    sequential statistics of every block, so the solves give the sequential weights."""
    model, calib, streams = toy
    method, target = METHODS.get("sparsegpt"), Target(sparsity=0.6)
    anchor = copy.deepcopy(model)
    prune_model(anchor, calib.input_ids, method, target, batch_size=4, progress=False)
    anchored, plain = copy.deepcopy(model), copy.deepcopy(model)
    for pruned, through in ((anchored, adapter_for(anchor).blocks), (plain, None)):
        adapter = adapter_for(pruned)
        prune_mixed(adapter.blocks, allocated_parts(model, calib, streams, through=through), method, target,
                    prefix=adapter.blocks_path)
    expected = anchor.state_dict()
    last = f"{adapter_for(model).blocks_path}.3.mlp.down_proj.weight"
    torch.testing.assert_close(anchored.state_dict()[last], expected[last], rtol=0, atol=1e-4)
    assert (plain.state_dict()[last] - expected[last]).abs().max() > 1e-3  # without the anchor: the dense inputs


def test_an_anchor_belongs_to_independent_mode() -> None:
    assert PruneSettings(sparsity=0.6, mode="independent", anchor="uniform").anchor == "uniform"
    with pytest.raises(ValidationError, match="anchor 'uniform' applies to independent mode only"):
        PruneSettings(sparsity=0.6, anchor="uniform")
