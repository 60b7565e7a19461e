"""The toy model family: three sizes on one world and tokenizer, each buildable by its recipe,
read as float32 whatever its storage, each with its card and dense scores."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

import calray.toy
from calray.cli import main
from calray.errors import CalrayError
from calray.evaluate import HFModel, capability_map, evaluate_capabilities
from calray.models import is_model_name, parameter_count, resolve_model, toy_model_dir
from calray.toy import FAMILY, task
from calray.toy.train import SHIPPED_DTYPE, SIZES, size_config

NAMES = {"small": "toy:small", "base": "toy", "large": "toy:large"}


def test_the_family_shares_one_tokenizer_and_grows_in_parameters():
    tokenizer = (FAMILY["base"] / "tokenizer.json").read_bytes()
    counts = []
    for size, directory in FAMILY.items():
        assert (directory / "tokenizer.json").read_bytes() == tokenizer, size
        assert (directory / "model.safetensors").stat().st_size <= 16 * 2**20
        training = json.loads((directory / "training.json").read_text())
        assert training["parameters"] == parameter_count(NAMES[size]) == parameter_count(directory)
        counts.append(training["parameters"])
        # the recipe `calray toy build --size SIZE` trains is the one this checkpoint was trained with
        recorded = {k: v for k, v in training["config"].items() if k != "max_minutes"}
        assert recorded == {k: v for k, v in size_config(size).model_dump().items() if k != "max_minutes"}, size
        assert training.get("saved_dtype", "float32") == SHIPPED_DTYPE[size] and training["tokens_seen"] > 8_990_000
    assert counts == sorted(counts) and counts[0] < 600_000 and counts[2] > 7_000_000
    assert set(SIZES) == set(FAMILY)


def test_names_resolve_to_float32_directories(tmp_path):
    assert resolve_model("toy") == resolve_model("toy:base") == str(calray.toy.MODEL_DIR)  # float32 as shipped
    large = toy_model_dir("large")
    assert large.parent.name == "toy-models" and resolve_model("toy:large") == str(large)  # made once, then reused
    config = json.loads((large / "config.json").read_text())
    assert config["dtype"] == "float32" and json.loads((FAMILY["large"] / "config.json").read_text())["dtype"] == "float16"
    stored = load_file(FAMILY["large"] / "model.safetensors")
    read = load_file(large / "model.safetensors")
    assert set(stored) == set(read)
    for name, value in stored.items():
        assert read[name].dtype == np.float32 and np.array_equal(read[name], value.astype(np.float32)), name
    assert is_model_name("toy:small") and is_model_name("toy:large")
    with pytest.raises(CalrayError, match=r"no toy model of size 'huge': the toy family is toy, toy:small, toy:base, toy:large"):
        resolve_model("toy:huge")


@pytest.mark.parametrize("size", ["small", "large"])
def test_each_member_has_its_card_and_dense_scores(size):
    directory = FAMILY[size]
    scores = json.loads((directory / "dense_scores.json").read_text())
    weights = (directory / "model.safetensors").read_bytes()
    assert hashlib.sha256(weights).hexdigest() == scores["checkpoint_sha256"], "retrained: re-run scripts/toy_dense_scores.py"
    card = (directory / "README.md").read_text()
    dense = card.split("## Dense scores", 1)[1].split("\n## ", 1)[0]
    rows = {cells[0]: cells for line in dense.splitlines()
            if (cells := [c.strip() for c in line.strip("|").split("|")]) and cells[0].startswith("toy:")}
    assert set(rows) == set(scores["tasks"]) == {t.name for t in calray.toy.TASKS}
    for name, entry in scores["tasks"].items():
        chance = "-" if entry["chance"] is None else f"{entry['chance']:.2f}"
        assert rows[name][1:5] == [entry["dimension"], f"{entry['metric']} ({entry['n']})", f"{entry['score']:.4f}", chance]
    training = json.loads((directory / "training.json").read_text())
    assert f"{training['parameters']:,}" in card


def test_the_small_model_still_scores_what_its_card_says():
    """Deterministic evaluation of the harness's fixed --limit subset (seed 0), as recorded."""
    scores = json.loads((FAMILY["small"] / "dense_scores.json").read_text())
    check = scores["check"]
    lm = HFModel.from_pretrained(toy_model_dir("small"), batch_size=16, progress=False)
    got = evaluate_capabilities(lm, capability_map("toy").with_overrides(limit=check["limit"]))
    for name, expected in check["scores"].items():
        metric = scores["tasks"][name]["metric"]
        assert got.tasks[name].metrics[metric] == pytest.approx(expected, rel=1e-4 if "perplexity" in metric else 0,
                                                                abs=1e-9), name


def test_the_large_model_answers_in_the_trained_formats():
    directory = toy_model_dir("large")
    model = AutoModelForCausalLM.from_pretrained(directory).eval()
    tok = AutoTokenizer.from_pretrained(directory)
    assert model.dtype == torch.float32
    problem = task("toy:gsm").records(1)[0]
    ids = tok(problem.query, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=80, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert re.search(r"#### \d+", text), text


def test_toy_build_rejects_a_device_it_does_not_have(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["toy", "build", "--smoke", "--device", "cuda", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("calray: error: --device cuda: torch sees no CUDA device here") and err.count("\n") == 1
