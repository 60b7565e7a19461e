"""Single-process references the cluster must reproduce: the sequential driver, and the
independent mode done by hand with calray.prune's own pieces."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from calray.prune import (
    METHODS,
    BlockStatistics,
    Target,
    adapter_for,
    collect_statistics,
    embed_samples,
    find_linears,
    prune_block,
    prune_model,
    run_block,
)

BATCH = 4


def load(model_dir: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(model_dir).eval()


def sequential_reference(
    model_dir: Path, ids: torch.Tensor, *, sparsity: float = 0.5, method: str = "sparsegpt"
) -> torch.nn.Module:
    model = load(model_dir)
    prune_model(model, ids, METHODS.get(method), Target(sparsity=sparsity), batch_size=BATCH, progress=False)
    return model


def independent_reference(
    model_dir: Path, parts: Sequence[tuple[float, torch.Tensor]], *, sparsity: float = 0.5, method: str = "sparsegpt"
) -> torch.nn.Module:
    """Every block pruned from sum_s w_s H_s, each H_s from the dense model's activations on source s."""
    model = load(model_dir)
    dense = copy.deepcopy(model)
    adapter, args = adapter_for(dense), adapter_for(dense).block_args()
    prefix = adapter.blocks_path
    per_source = []
    for weight, ids in parts:
        hidden = embed_samples(dense, ids, batch_size=BATCH)
        stats = []
        for i, block in enumerate(adapter.blocks):
            linears = find_linears(block, prefix=f"{prefix}.{i}")
            stats.append(collect_statistics(block, linears, hidden, args, index=i, batch_size=BATCH))
            hidden = run_block(block, hidden, args, index=i, device="cpu", storage_device="cpu", batch_size=BATCH)
        per_source.append((weight, stats))
    for i, block in enumerate(adapter_for(model).blocks):
        mixed = BlockStatistics.mix([(w, s[i]) for w, s in per_source])
        prune_block(find_linears(block, prefix=f"{prefix}.{i}"), mixed, METHODS.get(method), Target(sparsity=sparsity), index=i)
    return model


def block_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    prefix = adapter_for(model).blocks_path + "."
    return {n: t for n, t in model.state_dict().items() if n.startswith(prefix)}


def max_abs_diff(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> float:
    assert got.keys() == expected.keys(), sorted(set(got) ^ set(expected))[:5]
    return max((got[k] - expected[k]).abs().max().item() for k in got)
