"""Model names (``toy``, ``tiny:ARCH``) mean the same model in every command and config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import calray.toy
from calray.cli import main
from calray.cluster.entry import load_prune_eval
from calray.data import CalibrationSet, cache_root
from calray.models import is_model_name, resolve_model


def test_names_resolve_to_directories_and_paths_pass_through():
    assert resolve_model("toy") == str(calray.toy.MODEL_DIR)
    assert resolve_model("./toy") == "./toy" and resolve_model(Path("a/b")) == "a/b"
    tiny = Path(resolve_model("tiny:llama"))  # saved once into the (per-test) calray cache
    assert tiny.parent == cache_root() / "tiny-models" and (tiny / "config.json").is_file()
    assert resolve_model("tiny:llama") == str(tiny)
    assert is_model_name("toy") and is_model_name("tiny:gpt2") and not is_model_name("models/toy")


def test_a_job_config_keeps_the_name_and_makes_paths_absolute(tmp_path: Path):
    config = tmp_path / "c.yaml"
    config.write_text("model: toy\ncapability_map: toy\njobs: [{name: a, calibration: {mixture: toy:web=1}}]\n")
    assert load_prune_eval(config).model == "toy"
    config.write_text("model: toy-model\njobs: [{name: a}]\n")
    assert load_prune_eval(config).model == str(tmp_path / "toy-model")


def test_eval_calib_prune_and_ppl_take_the_toy_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scores = tmp_path / "scores.json"
    assert main(["eval", "--model", "toy", "--capabilities", "toy", "--limit", "5", "--threads", "1",
                 "--json", str(scores)]) == 0
    tasks = json.loads(scores.read_text())["scores"]["tasks"]
    assert set(tasks) == {t.name for t in calray.toy.TASKS} and all(t["n"] == 5 for t in tasks.values())
    assert 1.0 < tasks["toy:code_ppl"]["metrics"]["token_perplexity"] < 2.0  # the trained model, not a random one

    calib = tmp_path / "calib.arrow"
    assert main(["calib", "build", "--model", "toy", "--mix", "toy:gsm=2,toy:code=2", "--seqlen", "64",
                 "--out", str(calib)]) == 0
    assert CalibrationSet.load(calib).counts == {"toy:code": 2, "toy:gsm": 2}

    pruned = tmp_path / "pruned"
    assert main(["prune", "--model", "toy", "--method", "wanda", "--sparsity", "0.5", "--mix", "toy:web=4",
                 "--seqlen", "64", "--threads", "1", "--out", str(pruned)]) == 0
    text = tmp_path / "text.txt"
    text.write_text("\n".join(calray.toy.task("toy:general_ppl").records(5)))
    capsys.readouterr()
    assert main(["ppl", "--model", "toy", "--text", str(text), "--seqlen", "256", "--threads", "1"]) == 0
    dense_ppl = float(capsys.readouterr().out.split()[1])
    assert main(["ppl", "--model", str(pruned), "--text", str(text), "--seqlen", "256", "--threads", "1"]) == 0
    assert 1.0 < dense_ppl < float(capsys.readouterr().out.split()[1])
