from __future__ import annotations

import bz2
import csv
import dataclasses
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from calray.data import FileOrigin, Source, get_source, infer_format, load_documents
from calray.errors import CalrayError

RECORDS = [{"instruction": f"task {i}", "input": "", "output": f"answer {i}"} for i in range(3)]
TEXTS = [f"task {i}\n\nanswer {i}" for i in range(3)]


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _write(path: Path, kind: str) -> None:
    if kind == "jsonl":
        path.write_text(_jsonl(RECORDS))
    elif kind == "json-array":
        path.write_text(json.dumps(RECORDS, indent=2))
    elif kind == "jsonl.gz":
        path.write_bytes(gzip.compress(_jsonl(RECORDS).encode()))
    elif kind == "json.bz2":
        path.write_bytes(bz2.compress(json.dumps(RECORDS).encode()))
    elif kind == "csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(RECORDS[0]))
            writer.writeheader()
            writer.writerows(RECORDS)
    elif kind == "parquet":
        pq.write_table(pa.Table.from_pylist(RECORDS), path)


@pytest.mark.parametrize(
    "kind, name",
    [
        ("jsonl", "d.jsonl"),
        ("json-array", "d.json"),
        ("jsonl.gz", "d.jsonl.gz"),
        ("json.bz2", "d.json.bz2"),
        ("csv", "d.csv"),
        ("parquet", "d.parquet"),
    ],
)
def test_record_files_of_every_format_load_through_datasets(tmp_path: Path, kind: str, name: str):
    _write(tmp_path / name, kind)
    src = Source(name="s", dimension="code", fields=("instruction", "input", "output"), files=FileOrigin((str(tmp_path / name),)))
    docs = load_documents(src, cache_dir=tmp_path / "cache")
    assert len(docs) == 3
    assert docs.texts([2, 0]) == [TEXTS[2], TEXTS[0]]
    assert (tmp_path / "cache" / "datasets").is_dir()  # datasets' Arrow cache lives under calray's


RAW = "First line.\nSecond line.\n\n = Heading = \nThird.\n"


@pytest.mark.parametrize(
    "unit, expected",
    [
        ("line", ["First line.", "Second line.", "", "= Heading =", "Third."]),
        ("paragraph", ["First line.\nSecond line.", "= Heading = \nThird."]),
        ("document", [RAW.strip()]),
    ],
)
def test_text_files_split_by_line_paragraph_or_document(tmp_path: Path, unit: str, expected: list[str]):
    """Fields are stripped of surrounding whitespace; empty documents are skipped later, by sampling."""
    path = tmp_path / "wiki.txt.gz"
    path.write_bytes(gzip.compress(RAW.encode()))
    src = Source(name="w", dimension="general", files=FileOrigin((str(path),), text_unit=unit))
    docs = load_documents(src, cache_dir=tmp_path)
    assert docs.texts(range(len(docs))) == expected


def test_join_with_makes_one_document_of_the_whole_source():
    src = Source(name="j", dimension="general", loader=["a", "b", "c"], join_with=" ")
    docs = load_documents(src)
    assert len(docs) == 1 and docs.texts([0]) == ["a b c"]


def test_wikitext_is_read_as_sparsegpt_reads_it():
    lines = ["", " = Valkyria Chronicles III = \n", "", " Senjō no Valkyria 3 : ...\n"]
    wikitext = dataclasses.replace(get_source("wikitext2"), loader=lines)
    assert load_documents(wikitext).texts([0]) == [" ".join(lines)]


def test_json_field_reads_records_nested_in_an_object(tmp_path: Path):
    (tmp_path / "w.json").write_text(json.dumps({"data": RECORDS}))
    src = Source(
        name="s",
        dimension="code",
        fields=("instruction", "output"),
        files=FileOrigin((str(tmp_path / "w.json"),), json_field="data"),
    )
    assert load_documents(src, cache_dir=tmp_path).texts([1]) == ["task 1\n\nanswer 1"]


def test_unreadable_inputs_are_clear_errors(tmp_path: Path):
    assert infer_format(["a.JSONL.GZ", "b.jsonl"]) == "json"
    with pytest.raises(CalrayError, match="set `format:`"):
        infer_format(["data.xml"])
    with pytest.raises(CalrayError, match="mix formats"):
        infer_format(["a.csv", "b.jsonl"])
    missing = Source(name="m", dimension="code", files=FileOrigin((str(tmp_path / "nope.jsonl"),)))
    with pytest.raises(CalrayError, match="file\\(s\\) not found: .*nope.jsonl"):
        load_documents(missing, cache_dir=tmp_path)
    (tmp_path / "broken.jsonl").write_text('{"text": "ok"}\n{not json\n')
    broken = Source(name="b", dimension="code", files=FileOrigin((str(tmp_path / "broken.jsonl"),)))
    with pytest.raises(CalrayError, match="could not read .*broken.jsonl as json"):
        load_documents(broken, cache_dir=tmp_path)
    with pytest.raises(CalrayError, match="holds no records"):
        load_documents(Source(name="e", dimension="code", loader=[]))
