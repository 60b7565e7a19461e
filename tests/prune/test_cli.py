"""``calray prune`` and ``calray ppl`` on a tiny saved model; bad input gets one line and exit code 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoConfig

from calray.cli import main
from calray.prune import REPORT_NAME
from calray.tiny import tiny_model, tiny_tokenizer

REPO = Path(__file__).resolve().parents[2]
TEXT = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(60))  # ~3.4k bytes


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    model_dir = root / "tiny-llama"
    tiny_model("llama").save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    bert_dir = root / "bert"
    AutoConfig.for_model("bert", vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(
        bert_dir
    )
    (root / "calib.txt").write_text(TEXT)
    (root / "calib.jsonl").write_text("".join(json.dumps({"text": TEXT[i : i + 700]}) + "\n" for i in range(0, len(TEXT), 700)))
    (root / "bad.jsonl").write_text(json.dumps({"content": "no text field"}) + "\n")
    return {"model": model_dir, "bert": bert_dir, "txt": root / "calib.txt", "jsonl": root / "calib.jsonl",
            "bad": root / "bad.jsonl", "root": root}


def prune_args(files, out, *extra: str) -> list[str]:
    base = ["prune", "--model", str(files["model"]), "--calib", str(files["txt"]), "--nsamples", "4", "--seqlen", "32",
            "--method", "wanda", "--out", str(out)]
    return base + (list(extra) or ["--sparsity", "0.5"])


def test_prune_writes_model_and_report_then_ppl_reads_it(files, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert main(prune_args(files, out, "--sparsity", "0.5", "--threads", "1")) == 0
    assert "sparsity 0.5000" in capsys.readouterr().out
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["config"]["method"] == "wanda" and report["config"]["seqlen"] == 32
    assert report["totals"]["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert all(r["sparsity"] == pytest.approx(0.5, abs=0.01) for r in report["linears"])

    assert main(["ppl", "--model", str(out), "--text", str(files["txt"]), "--seqlen", "32"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("perplexity ") and "windows of 32 tokens" in line
    assert float(line.split()[1]) > 1


def test_jsonl_calibration_with_an_n_m_target(files, tmp_path, capsys):
    out = tmp_path / "pruned"
    args = prune_args(files, out, "--n-m", "2:4")
    args[args.index(str(files["txt"]))] = str(files["jsonl"])
    args[args.index("wanda")] = "sparsegpt"
    assert main(args) == 0
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["config"]["n_m"] == [2, 4]
    assert all(r["info"]["percdamp"] > 0 for r in report["linears"])


def test_mixture_from_a_sources_file_is_recorded_in_the_report(files, tmp_path, capsys):
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"sources:\n  lines:\n    dimension: general\n    files: {files['jsonl']}\n"
        f"  story:\n    dimension: math\n    files: {files['txt']}\n    text_unit: document\n"
    )
    out = tmp_path / "pruned"
    args = ["prune", "--model", str(files["model"]), "--mix", "lines=3,story=1", "--sources-file", str(sources),
            "--seqlen", "32", "--method", "sparsegpt", "--sparsity", "0.5", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    config = json.loads((out / REPORT_NAME).read_text())["config"]
    assert config["counts"] == {"lines": 3, "story": 1} and config["nsamples"] == 4
    assert config["mixture"] == "lines=0.75,story=0.25" and len(config["mixture_id"]) == 12


ERRORS = {
    "missing model": (lambda f, o: prune_args({**f, "model": f["root"] / "nope"}, o), "neither a directory nor reachable"),
    "unsupported architecture": (lambda f, o: prune_args({**f, "model": f["bert"]}, o),
                                 "unsupported architecture 'bert'.*supported model types:.*llama"),
    "sparsity 1": (lambda f, o: prune_args(f, o, "--sparsity", "1.0"), r"sparsity must be in \[0, 1\)"),
    "negative sparsity": (lambda f, o: prune_args(f, o, "--sparsity", "-0.1"), r"sparsity must be in \[0, 1\)"),
    "n:m not tiling": (lambda f, o: prune_args(f, o, "--n-m", "2:5"), "has 32 inputs, not a multiple of M=5"),
    "too little text": (lambda f, o: prune_args(f, o)[:6] + ["1000"] + prune_args(f, o)[7:],
                        r"can supply only \d+ random-window windows of 32 tokens \(1000 requested"),
    "jsonl without text": (lambda f, o: [a if a != str(f["txt"]) else str(f["bad"]) for a in prune_args(f, o)],
                           r"records lack field\(s\) \['text'\] \(they have \['content'\]\)"),
    "seqlen beyond context": (lambda f, o: [a if a != "32" else "4096" for a in prune_args(f, o)],
                              "exceeds the model's context of 256"),
    "no linear selected": (lambda f, o: prune_args(f, o) + ["--include", "*.nothing"], "no linear matches --include"),
    "ppl missing text": (lambda f, o: ["ppl", "--model", str(f["model"]), "--text", str(f["root"] / "none.txt")],
                         "does not exist"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_is_one_line_and_exit_code_2(case, files, tmp_path, capsys):
    make, pattern = ERRORS[case]
    assert main(make(files, tmp_path / "out")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("calray: error:")]
    assert len(err) == 1
    assert re.search(pattern, err[0]), err[0]
    assert not (tmp_path / "out" / REPORT_NAME).exists()


def test_offline_hub_id_fails_clearly_in_a_subprocess(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "calray", "prune", "--model", "no-such-owner/no-such-model", "--calib", "x.txt",
         "--method", "sparsegpt", "--sparsity", "0.5", "--out", str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "neither a directory nor reachable on the Hugging Face hub" in proc.stderr
    assert "no-such-owner/no-such-model" in proc.stderr
