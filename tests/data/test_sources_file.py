from __future__ import annotations

from pathlib import Path

import pytest

from calray.data import get_source, load_sources_file, use_sources_file
from calray.errors import CalrayError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_points_a_builtin_at_local_files_and_keeps_the_rest(tmp_path: Path):
    (tmp_path / "data").mkdir()
    write(tmp_path / "data" / "train.jsonl", '{"question": "q", "answer": "a"}\n')
    cfg = write(tmp_path / "sources.yaml", "sources:\n  gsm8k:\n    files: data/train.jsonl\n")
    assert use_sources_file(cfg) == ["gsm8k"]
    src = get_source("gsm8k")
    assert src.origin == "local" and src.files.paths == (str(tmp_path / "data" / "train.jsonl"),)
    assert src.hub.path == "openai/gsm8k" and src.fields == ("question", "answer") and src.dimension == "math"


def test_defines_new_sources_with_all_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KIT", str(tmp_path))
    cfg = write(
        tmp_path / "s.yaml",
        """
sources:
  wiki-sample:
    dimension: general
    files: [$KIT/wiki.txt.gz]
    text_unit: paragraph
    sampling: random-window
  backward:
    dimension: math
    files: ~/nowhere.jsonl
    fields: [question, inv_question_pred_answer]
    separator: "\\n"
    description: MetaMath GSM8K backward questions
    warning: overlaps GSM8K test
  remote:
    dimension: code
    hub: {path: org/set, name: cfg, split: validation, streaming: true, max_documents: 5}
""",
    )
    wiki, backward, remote = load_sources_file(cfg)
    assert wiki.files.paths == (str(tmp_path / "wiki.txt.gz"),) and wiki.files.text_unit == "paragraph"
    assert wiki.sampling == "random-window"
    assert backward.files.paths == (str(Path.home() / "nowhere.jsonl"),)
    assert backward.text({"question": "q", "inv_question_pred_answer": "a"}) == "q\na"
    assert backward.warning == "overlaps GSM8K test"
    assert remote.origin == "hub" and remote.hub.max_documents == 5 and remote.hub.split == "validation"


@pytest.mark.parametrize(
    "body, message",
    [
        ("sources:\n  gsm8k:\n    filez: x.jsonl\n", "filez: Extra inputs are not permitted"),
        ("sources:\n  new-one:\n    files: x.jsonl\n", "needs `dimension:`"),
        ("sources:\n  new-one:\n    dimension: poetry\n    files: x.jsonl\n", "dimension"),
        ("sources:\n  gsm8k:\n    sampling: random\n", "sampling"),
        ("sources:\n  gsm8k:\n    text_unit: line\n", "without `files:`"),
        ("- a\n- b\n", "must hold a mapping"),
    ],
)
def test_bad_sources_files_fail_with_the_field_named(tmp_path: Path, body: str, message: str):
    with pytest.raises(CalrayError, match=message):
        load_sources_file(write(tmp_path / "bad.yaml", body))


def test_env_var_sources_are_read_on_first_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = write(tmp_path / "s.yaml", "sources:\n  env-src:\n    dimension: math\n    files: a.jsonl\n")
    monkeypatch.setenv("CALRAY_SOURCES", str(cfg))
    assert get_source("env-src").files.paths == (str(tmp_path / "a.jsonl"),)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CalrayError, match="does not exist"):
        load_sources_file(tmp_path / "nope.yaml")
