"""The shipped toy model: loadable offline, small, fp32, and it has learnt the world's formats."""

import json
import re

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from calray.toy import MODEL_DIR, task


def test_shipped_model_is_small_float32_and_matches_its_tokenizer():
    weights = MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size <= 16 * 2**20
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR)
    assert model.dtype == torch.float32 and model.config.model_type == "llama"
    assert model.config.vocab_size == len(tok) and tok.bos_token_id == model.config.bos_token_id
    card = (MODEL_DIR / "README.md").read_text()
    training = json.loads((MODEL_DIR / "training.json").read_text())
    assert str(training["parameters"]) in card.replace(",", "")


def test_shipped_model_answers_in_the_trained_formats():
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR).eval()
    tok = AutoTokenizer.from_pretrained(MODEL_DIR)
    problem = task("toy:gsm").records(1)[0]
    ids = tok(problem.query, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=80, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert re.search(r"#### \d+", text), text
