"""Loading, sequence length, calibration windows and perplexity: the driver's edges."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig

from calray.errors import CalrayError
from calray.prune.model_io import load_config, resolve_seqlen
from calray.prune.perplexity import token_perplexity
from calray.prune.text import encode, read_texts
from calray.tiny import tiny_model, tiny_tokenizer

PRUNE_DIR = Path(__file__).resolve().parents[2] / "calray" / "prune"


def test_seqlen_defaults_to_the_context_capped_at_2048():
    long_context = AutoConfig.for_model("llama", max_position_embeddings=131_072)
    short_context = AutoConfig.for_model("llama", max_position_embeddings=256)
    assert resolve_seqlen(None, long_context) == 2048
    assert resolve_seqlen(None, short_context) == 256
    assert resolve_seqlen(4096, long_context) == 4096
    with pytest.raises(CalrayError, match="exceeds the model's context of 256"):
        resolve_seqlen(512, short_context)


def test_a_directory_without_config_is_refused(tmp_path):
    with pytest.raises(CalrayError, match="has no config.json"):
        load_config(str(tmp_path))


def test_jsonl_documents_are_joined_into_one_stream(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "abc"}\n\n{"text": "def"}\n')
    ids = encode(tiny_tokenizer(), read_texts(path))
    assert ids.tolist() == [256, *b"abc\n\ndef"]  # BOS, then the bytes


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    model = tiny_model("llama")
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: a uniform next-token distribution
    text = encode(tiny_tokenizer(), ["some text to score " * 20])
    ppl, windows = token_perplexity(model, text, seqlen=32, batch_size=3)
    assert windows == text.numel() // 32
    assert ppl == pytest.approx(model.config.vocab_size, rel=1e-5)
    assert math.isfinite(token_perplexity(tiny_model("gpt2"), text, seqlen=32)[0])


def test_the_pruning_core_imports_no_higher_layer():
    """calray.prune is pure torch: no Ray, MLflow, datasets, nor any calray layer above it."""
    banned = {"ray", "mlflow", "datasets"}
    higher = ("calray.data", "calray.evaluate", "calray.cluster", "calray.sweep", "calray.cli", "calray.toy")
    for path in PRUNE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in banned and not name.startswith(higher), f"{path.name} imports {name}"
