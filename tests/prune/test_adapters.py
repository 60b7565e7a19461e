"""The driver's block-by-block view of a model is the model: same block arguments, same logits."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest
import torch
from transformers import AutoConfig

from calray.errors import CalrayError
from calray.prune import ADAPTERS, adapter_for, call_block, check_supported
from calray.tiny import TINY_CONFIGS, tiny_model

# Sliding windows shorter than the test sequence, so the sliding masks really differ.
SLIDING = {
    "mistral-sliding": ("mistral", {"sliding_window": 8}),
    # Qwen2: block 0 full attention, block 1 sliding (max_window_layers=1): arguments differ per block.
    "qwen2-sliding": ("qwen2", {"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 1}),
    "gemma2-short-window": ("gemma2", {"sliding_window": 8}),
}
CASES = {arch: (arch, {}) for arch in TINY_CONFIGS} | SLIDING
NO_SDPA = {"gemma2"}  # transformers refuses sdpa for Gemma2 (attention softcapping)
PARAMS = [
    pytest.param(case, attn, id=f"{case}-{attn}")
    for case, (arch, _) in CASES.items()
    for attn in ("eager", "sdpa")
    if not (attn == "sdpa" and arch in NO_SDPA)
]


def build(case: str, attn: str) -> torch.nn.Module:
    arch, overrides = CASES[case]
    return tiny_model(arch, attn_implementation=attn, **overrides)


def same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):  # a block's **kwargs
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def bound(block: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every argument of the block's forward by name, defaults filled in (GPT-2 passes some positionally)."""
    call = inspect.signature(block.forward).bind(*args, **kwargs)
    call.apply_defaults()
    return dict(call.arguments)


def test_every_tiny_architecture_has_an_adapter():
    assert set(TINY_CONFIGS) <= set(ADAPTERS.names())


@pytest.mark.parametrize("case,attn", PARAMS)
def test_block_arguments_equal_what_the_model_passes(case, attn):
    model = build(case, attn)
    adapter = adapter_for(model)
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    captured: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    handles = [
        block.register_forward_pre_hook(lambda _m, a, k: captured.append((a, k)), with_kwargs=True)
        for block in adapter.blocks
    ]
    with torch.no_grad():
        model(ids, use_cache=False)
    for handle in handles:
        handle.remove()
    assert len(captured) == len(adapter.blocks)

    block_args = adapter.block_args()
    hidden = adapter.embed(ids)
    for index, (block, (args, kwargs)) in enumerate(zip(adapter.blocks, captured, strict=True)):
        theirs = bound(block, args, kwargs)
        ours = bound(block, (hidden,), block_args(hidden, index))
        assert theirs.keys() == ours.keys(), f"block {index}"
        for name in theirs:
            assert same(theirs[name], ours[name]), f"block {index}: argument {name!r} differs"
        with torch.no_grad():
            hidden = block(hidden, **block_args(hidden, index))
    if attn == "eager":  # eager never gets a None mask: that would silently drop causality
        assert all(block_args(hidden, i)["attention_mask"] is not None for i in range(len(adapter.blocks)))


@pytest.mark.parametrize("case,attn", PARAMS)
def test_block_by_block_forward_reproduces_the_logits(case, attn):
    model = build(case, attn)
    adapter = adapter_for(model)
    ids = torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(ids, use_cache=False).logits
    got = adapter.forward(ids)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-5


def test_sliding_window_blocks_get_their_own_mask():
    adapter = adapter_for(build("qwen2-sliding", "eager"))
    block_args = adapter.block_args()
    hidden = adapter.embed(torch.zeros(1, 16, dtype=torch.long))
    full, sliding = (block_args(hidden, i)["attention_mask"] for i in (0, 1))
    assert [block_args.layer_type(i) for i in (0, 1)] == ["full_attention", "sliding_attention"]
    assert not torch.equal(full, sliding)  # token 15 sees token 0 only without the window


def test_block_args_pickle_without_the_model():
    """A shard receives only the argument builder (config + rotary module), never the model."""
    adapter = adapter_for(tiny_model("llama"))
    block_args = adapter.block_args()
    hidden = adapter.embed(torch.zeros(1, 8, dtype=torch.long))
    expected = block_args(hidden, 0)
    shipped = pickle.loads(pickle.dumps(block_args))
    assert len(pickle.dumps(block_args)) < 50_000
    got = shipped(hidden, 0)
    assert got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in got)


def test_unsupported_architecture_names_the_supported_ones():
    config = AutoConfig.for_model("bert", vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2)
    with pytest.raises(CalrayError, match=r"unsupported architecture 'bert'.*supported model types: .*gpt2.*llama"):
        check_supported(config)


@pytest.mark.parametrize("case,attn", PARAMS)
def test_left_padded_batches_match_the_model_with_its_mask(case, attn):
    """Evaluation pads prompts on the left: block by block, the padding is masked and positions
    count real tokens only, as the model's forward numbers them under ``generate``."""
    from calray.prune.block_args import padded_position_ids

    model = build(case, attn)
    ids = torch.randint(0, 256, (3, 12), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # row 0: 7 real tokens after 5 pads; row 1: 1 pad; row 2: none
    mask[1, :1] = 0
    with torch.no_grad():
        expected = model(ids, attention_mask=mask, position_ids=padded_position_ids(mask), use_cache=False).logits
    got = adapter_for(model).forward(ids, mask)
    real = mask.bool()
    assert (got[real] - expected[real]).abs().max().item() < 1e-5
    # And a padded row's real tokens score as the same tokens alone, unpadded.
    alone = adapter_for(model).forward(ids[:1, 5:])
    assert (got[0, 5:] - alone[0]).abs().max().item() < 1e-4


@pytest.mark.parametrize("case,attn", PARAMS)
def test_cached_decoding_block_by_block_matches_recomputing_the_prefix(case, attn):
    """Greedy generation through blocks called alone, with a KV cache: each step feeds only the
    new token, yet gives the logits of a full forward over the (left-padded) prefix."""
    from transformers import DynamicCache

    from calray.prune.block_args import padded_position_ids

    model = build(case, attn)
    adapter = adapter_for(model)
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    cache = DynamicCache(config=model.config)
    new, full = ids, ids
    for _ in range(4):
        positions = padded_position_ids(mask)[:, -new.shape[1]:]
        hidden = adapter.embed(new, positions)
        args = adapter.block_args().cached(mask, cache)
        with torch.no_grad():
            for index, block in enumerate(adapter.blocks):
                hidden = call_block(block, hidden, args(hidden, index))
            step = adapter.head(hidden)[:, -1]
        expected = adapter.forward(full, mask)[:, -1]
        assert (step - expected).abs().max().item() < 1e-4
        new = step.argmax(-1, keepdim=True)
        full = torch.cat([full, new], dim=1)
        mask = torch.cat([mask, torch.ones_like(new)], dim=1)
