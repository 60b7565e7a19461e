"""Tiny, deterministic stand-ins for real models: the model names ``tiny:ARCH`` and the
tokenizer name ``tiny`` (smoke modes, configs that must run anywhere) and the tests.

``tiny_model(arch)`` builds a randomly initialised model of a supported architecture in
milliseconds; ``tiny_tokenizer()`` is a byte-level tokenizer built in memory (no files, no
hub), whose vocabulary matches the tiny models; ``save_tiny_model`` writes one as a model
directory. None needs the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

# Byte-level vocabulary: 256 bytes followed by these specials.
SPECIALS = ["<s>", "</s>", "<pad>", "<unk>"]
VOCAB_SIZE = 256 + len(SPECIALS)

_COMMON = dict(vocab_size=VOCAB_SIZE, bos_token_id=256, eos_token_id=257, pad_token_id=258)
_LLAMA_LIKE = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "llama": _LLAMA_LIKE,
    "mistral": {**_LLAMA_LIKE, "sliding_window": None},
    "qwen2": _LLAMA_LIKE,
    "qwen3": {**_LLAMA_LIKE, "head_dim": 8},
    "gemma": {**_LLAMA_LIKE, "head_dim": 8},
    "gemma2": {**_LLAMA_LIKE, "head_dim": 8, "sliding_window": 64, "query_pre_attn_scalar": 8},
    "gpt_neox": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        rotary_pct=0.5,
    ),
    "opt": dict(
        hidden_size=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        word_embed_proj_dim=32,
    ),
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=256),
}


def tiny_model(arch: str = "llama", *, seed: int = 0, attn_implementation: str = "eager", **overrides: Any) -> PreTrainedModel:
    """A randomly initialised causal LM of ``arch`` (a transformers ``model_type``), in eval mode."""
    if arch not in TINY_CONFIGS:
        raise ValueError(f"no tiny config for {arch!r}; known: {sorted(TINY_CONFIGS)}")
    config = AutoConfig.for_model(arch, **{**_COMMON, **TINY_CONFIGS[arch], **overrides})
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    # Random init of some architectures leaves weights tiny; widen them so pruning matters.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
    return model.eval()


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, which ByteLevel pre-tokenizers use."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    extra = (b for b in range(256) if b not in chars)
    chars.update({b: chr(256 + n) for n, b in enumerate(extra)})
    return chars


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (one token per UTF-8 byte) with BOS/EOS/PAD, built in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {ch: b for b, ch in _byte_to_unicode().items()}  # token id == byte value
    for i, special in enumerate(SPECIALS):
        vocab[special] = 256 + i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 256)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.model_max_length = 256
    return fast


def save_tiny_model(arch: str, directory: str | Path, *, seed: int = 0, num_blocks: int = 3) -> Path:
    """A tiny model of ``num_blocks`` decoder blocks and its tokenizer, saved as a model directory
    (safetensors), for what reads checkpoints: shard actors, job smoke tests."""
    depth: dict[str, Any] = {"n_layer" if arch == "gpt2" else "num_hidden_layers": num_blocks}
    directory = Path(directory)
    tiny_model(arch, seed=seed, **depth).save_pretrained(directory, safe_serialization=True)
    tiny_tokenizer().save_pretrained(directory)
    return directory
