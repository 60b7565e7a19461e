"""Every calibration file of the offline data kit (../shared/data) loads through a sources file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from calray.cli import main
from calray.data import build_calibration, get_source, load_documents, use_sources_file

pytestmark = pytest.mark.shared

SOURCES_YAML = """
sources:
  gsm8k:
    files: {data}/gsm8k/train.jsonl
  metamath-gsm8k-backward:
    dimension: math
    files: {data}/metamath_gsm8k_backward/GSM8K_Backward.jsonl
    fields: [question, inv_question_pred_answer, output]
    separator: "\\n"
    description: MetaMath's GSM8K backward-reasoning questions with a model's solution.
    warning: "all 1,270 questions are rewrites of GSM8K *test* questions: calibrating on it leaks GSM8K-test
      content into pruning; use gsm8k (train) for clean math calibration"
  codealpaca:
    files: {data}/codealpaca/code_alpaca_2k.json
  commonsenseqa:
    files: {data}/commonsenseqa/dev_rand_split.jsonl
  c4:
    files: {data}/c4_sample/c4_demo.jsonl
  wiki-sample:
    dimension: general
    files: {data}/wiki_sample/wiki_demo.txt
    sampling: random-window
  alpaca:
    files: {data}/alpaca/alpaca_data_1k.json
  svamp:
    files: {data}/svamp/SVAMP.json
"""
RECORDS = {
    "gsm8k": 7473,
    "metamath-gsm8k-backward": 1270,
    "codealpaca": 2017,
    "commonsenseqa": 1221,
    "c4": 300,
    "wiki-sample": 30,
    "alpaca": 1000,
    "svamp": 1000,
}


@pytest.fixture
def kit_sources(shared_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "kit.yaml"
    path.write_text(SOURCES_YAML.format(data=shared_dir / "data"))
    use_sources_file(path)
    return path


def test_every_calibration_file_of_the_kit_gives_windows(kit_sources: Path, stories260k: Path, tmp_path: Path, caplog):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(stories260k)
    corpus = {}
    for name, count in RECORDS.items():
        assert get_source(name).origin == "local"
        docs = load_documents(get_source(name), cache_dir=tmp_path)
        assert len(docs) == count, name
        corpus[name] = "\n".join(docs.texts(range(len(docs))))
    spec = ",".join(f"{name}=3" for name in RECORDS)
    with caplog.at_level(logging.WARNING):
        calib = build_calibration(tok, spec, seqlen=128, seed=0, cache_dir=tmp_path)
    assert calib.input_ids.shape == (24, 128) and calib.counts == {name: 3 for name in sorted(RECORDS)}
    assert calib.sampling["c4"] == "random-window" and calib.sampling["gsm8k"] == "packed"
    assert "GSM8K *test*" in caplog.text
    for name in RECORDS:
        for window in calib.select(name).tolist():
            # The longest run between EOS separators decodes to text of this source's documents.
            runs, run = [], []
            for t in window + [tok.eos_token_id]:
                runs, run = (runs + [run], []) if t == tok.eos_token_id else (runs, run + [t])
            text = tok.decode(max(runs, key=len))
            middle = text[len(text) // 2 - 15 : len(text) // 2 + 15]
            assert len(middle) == 30 and middle in corpus[name], (name, middle)


def test_sources_cli_lists_and_shows_kit_files(kit_sources: Path, capsys):
    assert main(["sources", "list", "--sources-file", str(kit_sources)]) == 0
    out = capsys.readouterr().out
    assert "wiki-sample" in out and "wiki_demo.txt" in out and "(!)" in out
    assert main(["sources", "show", "metamath-gsm8k-backward", "-n", "1", "--sources-file", str(kit_sources)]) == 0
    out = capsys.readouterr().out
    assert "WARNING: all 1,270 questions are rewrites of GSM8K *test* questions" in out
    assert "1270 records" in out and "--- record 0 ---\nJosh decides to try flipping a house." in out
    assert main(["sources", "show", "commonsenseqa", "-n", "1", "--sources-file", str(kit_sources)]) == 0
    assert "A. bank\nB. library" in capsys.readouterr().out
