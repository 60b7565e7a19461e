"""The training pipeline end to end on a tiny model (the shipped model is trained the same way)."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from calray.cli import main
from calray.toy.corpus import DOMAINS, documents
from calray.toy.train import ToyTrainConfig, build_tokenizer, training_windows


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer([d for dom in DOMAINS for d in documents(dom, "train", 200)], 600)


def test_tokenizer_splits_digits_and_round_trips(tokenizer):
    text = 'Vobeik pays 3 * 125 = 375 coins.\ndef f(items):\n    return items["price"]'
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert "1" in pieces and "2" in pieces and "5" in pieces and "125" not in pieces


def test_training_windows_balance_the_domains(tokenizer):
    cfg = ToyTrainConfig(tokens=40_000, seq_len=64, batch_size=8)
    windows = training_windows(tokenizer, cfg)
    assert windows.shape == (cfg.steps * cfg.batch_size, 64)
    assert torch.equal(windows, training_windows(tokenizer, cfg))
    n_docs = int((windows == tokenizer.bos_token_id).sum())
    assert n_docs > 100  # documents are packed, several per window


def test_cli_smoke_build_saves_a_loadable_model(tmp_path):
    out = tmp_path / "model"
    assert main(["toy", "build", "--smoke", "--out", str(out)]) == 0
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "llama" and model.config.vocab_size == len(tok)
    ids = tok("Question: What is a kettle made of?\nAnswer:", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], len(tok))
    report = json.loads((out / "training.json").read_text())
    assert report["steps_done"] == report["config"]["tokens"] // (8 * 64)
    assert main(["toy", "build", "--smoke", "--threads", "0", "--out", str(out)]) == 2
