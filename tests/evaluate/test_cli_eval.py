"""``calray eval`` end to end on real models and local files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from calray.cli import main
from calray.tiny import tiny_model, tiny_tokenizer

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_model("llama").save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path


def test_unpruned_model_retains_100(
    stories260k: Path, shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a short WikiText excerpt (same format) keeps this fast; test_builtin reads the whole kit
    text = open(shared_dir / "data/wikitext2_raw_test/wikitext-test.txt", encoding="utf-8").read()
    (tmp_path / "wiki.txt").write_text(text[:6000])
    (tmp_path / "data.yaml").write_text(f"root: {shared_dir / 'data'}\nfiles: {{wikitext: {tmp_path / 'wiki.txt'}}}\n")
    (tmp_path / "map.yaml").write_text(
        "dimensions:\n  general: [{task: mmlu, limit: 1}, {task: wikitext}]\n  commonsense: [{task: arc_easy, limit: 8}]\n"
    )
    out = tmp_path / "r.json"
    args = ["eval", "--model", str(stories260k), "--dense", str(stories260k), "--capabilities", str(tmp_path / "map.yaml"),
            "--data-config", str(tmp_path / "data.yaml"), "--json", str(out), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["retention"]["dimensions"]["general"] == 100.0
    rows = {r["task"]: r for r in result["retention"]["tasks"]}
    assert rows["wikitext"]["retention"] == 100.0 and rows["mmlu"]["chance"] == 0.25 and rows["mmlu"]["n"] == 8
    arc = result["scores"]["tasks"]["arc_easy"]["items"][rows["arc_easy"]["metric"]]  # lm-eval's mean_stderr of the items
    assert len(arc) == 8 and rows["arc_easy"]["stderr"] == pytest.approx(statistics.stdev(arc) / 8**0.5)
    assert rows["wikitext"]["stderr"] is None  # a corpus perplexity has none (lm-eval reports N/A)
    table = capsys.readouterr().out
    assert "wikitext" in table and "total" in table and "stderr" in table.splitlines()[0]
    assert list((tmp_path / "cache").glob("*/wikitext-*.json"))  # the dense scores were cached
    assert main(args + ["--dims", "general"]) == 0  # a second run reads them back


def test_tiny_random_model_runs_every_task_kind(tiny_dir: Path, shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["eval", "--model", str(tiny_dir), "--limit", "1", "--max-new-tokens", "4",
                 "--data", str(shared_dir / "data"), "--json", str(out)]) == 0
    tasks = json.loads(out.read_text())["scores"]["tasks"]
    assert set(tasks) == {"mmlu", "wikitext", "hellaswag", "piqa", "winogrande", "arc_easy", "arc_challenge",
                          "boolq", "openbookqa", "humaneval", "mbpp", "gsm8k"}


def test_bad_input_is_one_line_and_exit_2(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(tiny_dir), "--dims", "maths"]) == 2
    assert "unknown dimension" in capsys.readouterr().err
