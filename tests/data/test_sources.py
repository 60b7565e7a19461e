from __future__ import annotations

import os
from pathlib import Path

import pytest

from calray.data import (
    BUILTIN_SOURCES,
    FileOrigin,
    HubOrigin,
    Source,
    commonsenseqa_text,
    get_source,
    register_source,
    select_sources,
    source_names,
)
from calray.errors import CalrayError


def test_builtin_table_has_the_fifteen_sources_of_research_md():
    hub_ids = {s.name: s.hub.path for s in BUILTIN_SOURCES}
    assert len(hub_ids) == 15
    assert hub_ids["c4"] == "allenai/c4" and get_source("c4").hub.data_files == "en/c4-train.00000-of-01024.json.gz"
    assert get_source("gsm8k").hub.name == "main"
    assert get_source("wikitext2").hub.name == "wikitext-2-raw-v1"
    assert get_source("redpajama").fields == ("raw_content",)
    assert {s.dimension for s in BUILTIN_SOURCES} == {"general", "commonsense", "code", "math"}
    assert all(s.origin == "hub" for s in BUILTIN_SOURCES)


def test_gsm8k_text_keeps_question_and_worked_solution():
    text = get_source("gsm8k").text({"question": "What is 2+3?", "answer": "2+3=<<2+3=5>>5\n#### 5"})
    assert text == "What is 2+3?\n2+3=<<2+3=5>>5\n#### 5"


def test_instruction_sources_skip_an_empty_input():
    src = get_source("codealpaca")
    assert src.text({"instruction": "Sort it.", "input": "", "output": "sorted(x)"}) == "Sort it.\n\nsorted(x)"
    assert src.text({"instruction": "Sort it.", "input": "[3, 1]", "output": "[1, 3]"}) == "Sort it.\n\n[3, 1]\n\n[1, 3]"


def test_commonsenseqa_reads_hub_and_original_schemas_alike():
    hub = {"question": "Where?", "choices": {"label": ["A", "B"], "text": ["bank", "mall"]}}
    original = {"question": {"stem": "Where?", "choices": [{"label": "A", "text": "bank"}, {"label": "B", "text": "mall"}]}}
    assert commonsenseqa_text(hub) == commonsenseqa_text(original) == "Where?\nA. bank\nB. mall"


def test_format_string_template_and_missing_fields_are_clear():
    src = Source(name="t", dimension="math", loader=[{}], template="{Body} {Question}\n{Answer}")
    assert src.text({"Body": "Dan had 4.", "Question": "How many?", "Answer": 4.0}) == "Dan had 4. How many?\n4.0"
    with pytest.raises(CalrayError, match="needs 'Answer'"):
        src.text({"Body": "x", "Question": "y"})
    plain = Source(name="p", dimension="math", loader=[{}], fields=("question", "answer"))
    with pytest.raises(CalrayError, match=r"lack field\(s\) \['answer'\]"):
        plain.text({"question": "q"})


def test_bad_sources_are_refused():
    with pytest.raises(CalrayError, match="dimension"):
        Source(name="x", dimension="poetry", loader=[])  # type: ignore[arg-type]
    with pytest.raises(CalrayError, match="no origin"):
        Source(name="x", dimension="math")
    with pytest.raises(CalrayError, match="not allowed"):
        Source(name="Bad Name", dimension="math", loader=[])
    with pytest.raises(CalrayError, match="did you mean 'gsm8k'"):
        get_source("gsm8kk")
    with pytest.raises(CalrayError, match="already registered"):
        register_source(Source(name="gsm8k", dimension="math", loader=["x"]))


def test_origin_prefers_loader_then_files_then_hub():
    hub = HubOrigin("a/b")
    assert Source(name="s", dimension="code", hub=hub).origin == "hub"
    assert Source(name="s", dimension="code", hub=hub, files=FileOrigin(("f.jsonl",))).origin == "local"
    assert Source(name="s", dimension="code", hub=hub, loader=["x"]).origin == "python"


def test_patterns_select_groups_and_reject_typos():
    for name in ("mine:stories", "mine:code", "mineish"):
        register_source(Source(name=name, dimension="general", loader=["x"]))
    assert select_sources("mine:*") == ["mine:code", "mine:stories"]
    assert select_sources(["mine:s*", "gsm8k"]) == ["gsm8k", "mine:stories"]
    assert "mine:code" in source_names()
    with pytest.raises(CalrayError, match="matches no calibration source"):
        select_sources("tyo:*")


def test_fingerprint_follows_content_not_name(tmp_path: Path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "one"}\n')
    a = Source(name="a", dimension="general", files=FileOrigin((str(path),)))
    b = Source(name="b", dimension="general", files=FileOrigin((str(path),)))
    assert a.fingerprint() == b.fingerprint()
    before = a.fingerprint()
    path.write_text('{"text": "one, changed"}\n')
    os.utime(path, ns=(1, 2))
    assert a.fingerprint() != before
    records = Source(name="r", dimension="general", loader=[{"text": "x"}])
    assert records.fingerprint() != Source(name="r", dimension="general", loader=[{"text": "y"}]).fingerprint()
    assert records.fingerprint() != Source(name="r", dimension="general", loader=[{"text": "x"}], version="2").fingerprint()
