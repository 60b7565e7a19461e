"""The sequential driver over tiny real models: exact targets, what is touched, shards, failures."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from calray.errors import CalrayError
from calray.prune import (
    METHODS,
    REPORT_NAME,
    PruningError,
    Target,
    adapter_for,
    embed_samples,
    find_linears,
    prune_blocks,
    prune_model,
    run_block,
    weight_matrix,
)
from calray.prune.model_io import save_pruned
from calray.tiny import TINY_CONFIGS, tiny_model, tiny_tokenizer

from .layers import is_valid_n_m


def windows(samples: int = 4, seq: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (samples, seq), generator=torch.Generator().manual_seed(seed))


def outside_blocks(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    blocks = adapter_for(model).blocks_path + "."
    return {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith(blocks)}


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_every_architecture_prunes_end_to_end_and_reloads(arch, tmp_path):
    model = tiny_model(arch)
    before = outside_blocks(model)
    target = Target(sparsity=0.6)
    report = prune_model(model, windows(), METHODS.get("sparsegpt"), target, batch_size=3, progress=False,
                         config={"model": arch})

    adapter = adapter_for(model)
    expected = {name for i, b in enumerate(adapter.blocks) for name in find_linears(b, prefix=f"{adapter.blocks_path}.{i}")}
    assert {r.name for r in report.linears} == expected
    modules = dict(model.named_modules())
    for r in report.linears:
        W = weight_matrix(modules[r.name])
        assert tuple(W.shape) == r.shape
        assert int((W == 0).sum()) == r.zeros == target.zeros_for(W.numel()), r.name
        assert r.layer_error is not None and 0 < r.layer_error < 1
        assert r.info["percdamp"] == pytest.approx(0.01)
    for name, p in outside_blocks(model).items():  # embeddings, final norm, head untouched
        assert torch.equal(p, before[name]), name

    save_pruned(model, tiny_tokenizer(), report, tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    # The same attention as in memory: transformers 5.17 reloads gemma2 with sdpa (no softcapping),
    # which changes its logits whatever was saved.
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation=model.config._attn_implementation).eval()
    ids = windows(2, 16, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits)
    saved = json.loads((tmp_path / REPORT_NAME).read_text())
    assert saved["config"] == {"model": arch}
    assert saved["totals"]["linears"] == len(expected)
    assert saved["totals"]["sparsity"] == pytest.approx(0.6, abs=1e-3)
    assert {"name", "shape", "sparsity", "layer_error", "seconds", "info"} <= saved["linears"][0].keys()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])  # gpt2: n:m runs along the inputs of a transposed Conv1D
@pytest.mark.parametrize("method", ["sparsegpt", "wanda", "magnitude"])
def test_two_four_pattern_holds_in_every_row(arch, method):
    model = tiny_model(arch)
    report = prune_model(model, windows(2, 16), METHODS.get(method), Target.parse(n_m="2:4"), progress=False)
    modules = dict(model.named_modules())
    for r in report.linears:
        W = weight_matrix(modules[r.name])
        assert is_valid_n_m(W, 2, 4) and r.sparsity == 0.5, r.name


def test_include_and_exclude_patterns_choose_the_linears():
    model = tiny_model("llama")
    dense = copy.deepcopy(model)
    report = prune_model(model, windows(2, 16), METHODS.get("wanda"), Target(sparsity=0.5), progress=False,
                         include=["*.mlp.*"], exclude=["*.down_proj"])
    assert sorted(r.name for r in report.linears) == [
        f"model.layers.{i}.mlp.{p}" for i in (0, 1) for p in ("gate_proj", "up_proj")
    ]
    pruned = {r.name for r in report.linears}
    for (name, p), q in zip(model.named_parameters(), dense.parameters(), strict=True):
        assert torch.equal(p, q) == (name.removesuffix(".weight") not in pruned), name


def test_pruned_outputs_feed_the_next_block():
    """Sequential: the outputs returned are the pruned blocks' outputs, and block 1 saw them."""
    model = tiny_model("llama")
    dense = copy.deepcopy(model)
    ids = windows()
    adapter, dense_adapter = adapter_for(model), adapter_for(dense)
    hidden = embed_samples(model, ids)
    out, _ = prune_blocks(adapter.blocks, hidden, adapter.block_args(), METHODS.get("sparsegpt"), Target(sparsity=0.5),
                          progress=False)
    args = adapter.block_args()
    expected = hidden
    for i, block in enumerate(adapter.blocks):
        expected = run_block(block, expected, args, index=i, device="cpu", storage_device="cpu", batch_size=4)
    torch.testing.assert_close(out, expected)

    # Pruning block 1 on the *dense* block 0's outputs (independent mode) gives other weights.
    independent = copy.deepcopy(dense)
    ind = adapter_for(independent)
    dense_out = run_block(dense_adapter.blocks[0], hidden, args, index=0, device="cpu", storage_device="cpu", batch_size=4)
    prune_blocks(ind.blocks[1:], dense_out, args, METHODS.get("sparsegpt"), Target(sparsity=0.5), first_index=1,
                 progress=False)
    assert not torch.equal(ind.blocks[1].mlp.down_proj.weight, adapter.blocks[1].mlp.down_proj.weight)


def test_shards_reproduce_the_single_process_weights():
    whole, sharded = tiny_model("gemma2"), tiny_model("gemma2")
    method, target, ids = METHODS.get("sparsegpt"), Target(sparsity=0.5), windows()
    prune_model(whole, ids, method, target, progress=False)
    adapter = adapter_for(sharded)
    block_args = adapter.block_args()
    hidden = embed_samples(sharded, ids)
    for first in range(len(adapter.blocks)):  # one block per "shard"
        hidden, _ = prune_blocks(adapter.blocks[first : first + 1], hidden, block_args, method, target,
                                 first_index=first, prefix=adapter.blocks_path, progress=False)
    for (name, a), b in zip(whole.named_parameters(), sharded.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_magnitude_without_layer_errors_needs_no_calibration_forward():
    model = tiny_model("opt")
    calls = []
    for block in adapter_for(model).blocks:
        block.register_forward_pre_hook(lambda *_: calls.append(1))
    report = prune_model(model, None, METHODS.get("magnitude"), Target(sparsity=0.5), layer_errors=False,
                         progress=False)
    assert calls == [] and report.linears and all(r.layer_error is None for r in report.linears)
    with pytest.raises(ValueError, match="calibration"):
        prune_model(model, None, METHODS.get("wanda"), Target(sparsity=0.5), layer_errors=False, progress=False)


def test_n_m_that_does_not_tile_a_width_fails_before_any_pruning():
    model = tiny_model("llama")  # widths 32 and 64
    dense = copy.deepcopy(model)
    with pytest.raises(CalrayError, match=r"not a multiple of M=5"):
        prune_model(model, windows(2, 8), METHODS.get("sparsegpt"), Target.parse(n_m="2:5"), progress=False)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), dense.parameters(), strict=True))


def test_non_finite_activations_raise_an_error_naming_the_layer():
    model = tiny_model("llama")
    with torch.no_grad():
        model.model.layers[0].self_attn.o_proj.weight[0, 0] = float("nan")
    with pytest.raises(PruningError) as info:
        prune_model(model, windows(2, 8), METHODS.get("sparsegpt"), Target(sparsity=0.5), progress=False)
    assert info.value.layer.startswith("model.layers.0")
