from __future__ import annotations

import json
from pathlib import Path

import pytest

from calray.cli import main
from calray.data import CalibrationSet, Source, register_source

from .helpers import words


@pytest.fixture
def mine_sources() -> None:
    register_source(Source(name="mine:prose", dimension="general", loader=[words(i, 40) for i in range(50)]))
    register_source(Source(name="mine:sums", dimension="math", loader=[f"{i}+{i}={2 * i}" for i in range(500)]))


def test_sources_list_prints_a_table_of_every_source(capsys):
    assert main(["sources", "list"]) == 0
    lines = capsys.readouterr().out.split("\n\n")[0].splitlines()  # the sources table (self-calibration follows)
    assert lines[0].split() == ["name", "dimension", "where", "sampling", "fields", "origin"]
    gsm8k = next(line for line in lines if line.startswith("gsm8k "))
    assert gsm8k.split()[:5] == ["gsm8k", "math", "hub", "packed", "question+answer"]
    assert len(lines) == 2 + 15 + 18  # the 15 hub sources of the literature and the toy world's 18
    toy_gsm = next(line for line in lines if line.startswith("toy:gsm "))
    assert toy_gsm.split()[:4] == ["toy:gsm", "math", "python", "packed"]


def test_sources_list_filters_by_pattern_and_shows_python_sources(mine_sources: None, capsys):
    assert main(["sources", "list", "mine:*"]) == 0
    out = capsys.readouterr().out
    assert "mine:prose" in out and "mine:sums" in out and "gsm8k" not in out
    assert "python: 500 records" in out


def test_calib_build_then_metrics_from_the_saved_file(mine_sources: None, tmp_path: Path, capsys):
    out = tmp_path / "calib.arrow"
    argv = ["calib", "build", "--tokenizer", "tiny", "--mix", "mine:prose=3,mine:sums=5", "--seqlen", "32", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mine:sums 0.625 5 packed" in " ".join(printed.split()) and f"-> {out}" in printed
    calib = CalibrationSet.load(out)
    assert calib.input_ids.shape == (8, 32) and calib.counts == {"mine:prose": 3, "mine:sums": 5}
    report = tmp_path / "metrics.json"
    argv = ["metrics", "--model", "tiny:llama", "--calib", str(out), "--json", str(report), "--by-source"]
    assert main(argv) == 0
    assert "perplexity" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["calibration"]["id"] == calib.id and data["calibration"]["counts"] == calib.counts
    assert set(data["by_source"]) == {"mine:prose", "mine:sums"}
    assert 1 < data["metrics"]["perplexity"] < 1e4 and 0 < data["metrics"]["vocab_coverage"] < 1


def test_metrics_builds_the_mixture_when_given_one(mine_sources: None, tmp_path: Path, capsys):
    assert main(["metrics", "--model", "tiny:llama", "--mix", "mine:sums=4", "--seqlen", "16"]) == 0
    assert "seq_rep_4" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["calib", "build", "--tokenizer", "tiny", "--mix", "gsm8kk=1", "--out", "x.arrow"], "did you mean 'gsm8k'"),
        (["calib", "build", "--tokenizer", "tiny", "--mix", "c4=-1", "--out", "x.arrow"], "weights must be >= 0"),
        (["calib", "build", "--tokenizer", "tiny", "--mix", "c4=1", "--nsamples", "0", "--out", "x.arrow"], "nsamples"),
        (["metrics", "--model", "tiny:llama"], "exactly one of --mix"),
        (["sources", "show", "nope"], "unknown calibration source 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv: list[str], message: str, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("calray: error: ") and message in err and "\n" not in err


def test_offline_hub_source_without_local_files_fails_with_one_clear_line(tmp_path: Path, capsys):
    """The hub is offline here (conftest sets HF_HUB_OFFLINE), as on a machine without network."""
    argv = ["calib", "build", "--tokenizer", "tiny", "--mix", "gsm8k=2", "--seqlen", "16", "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "source 'gsm8k' reads 'openai/gsm8k' from the Hugging Face hub" in lines[0]
    assert "offline mode" in lines[0] and "`sources: {gsm8k: {files: /path/to/data.jsonl}}`" in lines[0]
