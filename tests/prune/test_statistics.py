"""Statistics keyed by input: who shares a Hessian, and that it is (2/n) X^T X of the real inputs."""

from __future__ import annotations

import copy

import pytest
import torch

from calray.prune import METHODS, Target, adapter_for, collect_statistics, find_linears, prune_blocks
from calray.prune.statistics import BlockStatistics, InputStatistic
from calray.tiny import tiny_model

SHARED = {
    "llama": [("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), ("self_attn.o_proj",),
              ("mlp.gate_proj", "mlp.up_proj"), ("mlp.down_proj",)],
    "opt": [("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), ("self_attn.out_proj",), ("fc1",), ("fc2",)],
    # Fused qkv is one linear; with the parallel residual attention and MLP read different norms.
    "gpt_neox": [("attention.query_key_value",), ("attention.dense",), ("mlp.dense_h_to_4h",), ("mlp.dense_4h_to_h",)],
    "gpt2": [("attn.c_attn",), ("attn.c_proj",), ("mlp.c_fc",), ("mlp.c_proj",)],
}


def block_inputs(arch: str, samples: int = 3, seq: int = 12):
    adapter = adapter_for(tiny_model(arch))
    ids = torch.randint(0, 256, (samples, seq), generator=torch.Generator().manual_seed(0))
    return adapter, adapter.embed(ids).detach()


@pytest.mark.parametrize("arch", sorted(SHARED))
def test_linears_reading_one_tensor_are_grouped(arch):
    adapter, hidden = block_inputs(arch)
    block = adapter.blocks[0]
    stats = collect_statistics(block, find_linears(block, prefix=""), hidden, adapter.block_args(), index=0, batch_size=2)
    assert sorted(stats.groups.values()) == sorted(SHARED[arch])
    assert set(stats.stats) == set(stats.groups)  # one statistic per shared input


def test_hessian_is_two_over_n_sum_of_outer_products_of_the_captured_inputs():
    adapter, hidden = block_inputs("llama")
    block, block_args = adapter.blocks[0], adapter.block_args()
    linears = find_linears(block, prefix="model.layers.0")
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in linears}
    handles = [m.register_forward_pre_hook(lambda _m, a, n=n: seen[n].append(a[0].detach().clone()))
               for n, m in linears.items()]
    stats = collect_statistics(block, linears, hidden, block_args, index=0, batch_size=2)
    for h in handles:
        h.remove()
    assert stats.groups["model.layers.0.mlp.gate_proj"] == ("model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj")
    for key, stat in stats.stats.items():
        X = torch.cat([x.reshape(-1, x.shape[-1]) for x in seen[key]]).double()  # (tokens, in)
        expected = 2 * X.T @ X / X.shape[0]
        assert stat.tokens == 3 * 12
        torch.testing.assert_close(stat.value.double(), expected, rtol=1e-5, atol=1e-6)


def test_diagonal_statistic_matches_the_hessian_diagonal_and_batches_do_not_matter():
    adapter, hidden = block_inputs("gpt2", samples=5)
    block, block_args = adapter.blocks[0], adapter.block_args()
    linears = find_linears(block, prefix="")
    full = collect_statistics(block, linears, hidden, block_args, index=0, kind="hessian", batch_size=5)
    diag = collect_statistics(block, linears, hidden, block_args, index=0, kind="diag", batch_size=2)
    for key in full.stats:
        torch.testing.assert_close(diag.stats[key].value, full.stats[key].value.diagonal(), rtol=1e-5, atol=1e-6)


def test_running_mean_equals_the_batch_formula():
    x = torch.randn(50, 6, dtype=torch.float32)
    stat = InputStatistic.empty("hessian", 6)
    for chunk in x.split(7):
        stat.add(chunk)
    torch.testing.assert_close(stat.value, 2 * x.T @ x / 50, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["sparsegpt", "wanda"])
def test_shared_statistics_prune_exactly_like_one_statistic_per_linear(method):
    adapter, hidden = block_inputs("llama", samples=4, seq=16)
    blocks = adapter.blocks[:1]
    twin = copy.deepcopy(blocks)
    args = adapter.block_args()
    kwargs = dict(progress=False, prefix="b")
    _, shared = prune_blocks(blocks, hidden, args, METHODS.get(method), Target(sparsity=0.5), **kwargs)
    _, single = prune_blocks(twin, hidden, args, METHODS.get(method), Target(sparsity=0.5), share_inputs=False, **kwargs)
    assert sorted(r.name for r in shared) == sorted(r.name for r in single)
    for (name, a), b in zip(blocks.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_mixing_per_source_statistics_token_weighted_equals_the_pooled_statistic():
    """Independent mode: statistics of two sources, mixed by token share, are those of both together."""
    adapter, hidden = block_inputs("llama", samples=5)
    block, block_args = adapter.blocks[0], adapter.block_args()
    linears = find_linears(block, prefix="")
    a = collect_statistics(block, linears, hidden[:2], block_args, index=0)
    b = collect_statistics(block, linears, hidden[2:], block_args, index=0)
    pooled = collect_statistics(block, linears, hidden, block_args, index=0)
    mixed = BlockStatistics.mix([(2 / 5, a), (3 / 5, b)])
    assert mixed.groups == pooled.groups
    for key, stat in pooled.stats.items():
        assert mixed.stats[key].tokens == stat.tokens
        torch.testing.assert_close(mixed.stats[key].value, stat.value, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cannot be mixed"):
        BlockStatistics.mix([(1.0, a), (1.0, collect_statistics(block, linears, hidden, block_args, index=0, kind="diag"))])


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_accumulate_the_float32_hessian(device, dtype):
    """On CUDA half-precision inputs are multiplied without upcasting: still the float32 Hessian
    (every product of two half-precision numbers is exact in float32)."""
    x = torch.randn(3, 200, 48, generator=torch.Generator().manual_seed(0)).to(dtype)
    stat = InputStatistic.empty("hessian", 48, device=device)
    for batch in x:
        stat.add(batch.to(device))
    exact = x.double().reshape(-1, 48)
    exact = 2 * exact.T @ exact / exact.shape[0]
    assert stat.value.dtype == torch.float32
    assert (stat.value.cpu().double() - exact).abs().max() < 1e-5 * exact.abs().max()
