"""``calray eval --tasks`` on the toy model with a local lm-eval task YAML (offline: the items
are a JSON Lines file written here, read through lm-eval's ``dataset_path: json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calray.cli import main

pytest.importorskip("lm_eval")

ITEMS = [{"question": f"{a} plus {b} is", "choices": [str(a + b), str(a + b + 1), str(a * b + 7)], "label": 0}
         for a, b in [(1, 2), (2, 3), (3, 4), (4, 1), (5, 2), (2, 2), (6, 1), (3, 3)]]
TASK = """task: toy_sums
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
fewshot_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture
def tasks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    folder = tmp_path / "tasks"
    folder.mkdir()
    data = folder / "sums.jsonl"
    data.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    (folder / "toy_sums.yaml").write_text(TASK.format(data=data))
    return folder


def test_a_local_task_with_fewshot_samples_and_retention(tasks_dir: Path, tmp_path: Path, capsys):
    samples, out = tmp_path / "samples", tmp_path / "out.json"
    args = ["eval", "--model", "toy", "--tasks", "toy_sums", "--include-path", str(tasks_dir), "--num-fewshot", "1",
            "--limit", "5", "--log-samples", str(samples), "--json", str(out), "--dense", "toy"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "stderr" in table and "retention" in table and "100.0" in table  # the dense model against itself

    result = json.loads(out.read_text())
    metrics = result["results"]["toy_sums"]
    assert 0.0 <= metrics["acc,none"] <= 1.0 and metrics["acc_stderr,none"] > 0
    assert result["n-samples"]["toy_sums"]["effective"] == 5

    records = [json.loads(line) for line in (samples / "toy_sums.jsonl").read_text().splitlines()]
    assert len(records) == 5 and {"doc", "resps", "acc"} <= set(records[0])
    context = records[0]["arguments"][0][0]  # (context, continuation) of the first choice
    assert context.count(" plus ") == 2  # one few-shot example before the question


@pytest.mark.ray
def test_the_same_task_scored_in_two_shards_as_in_process(ray_session, tasks_dir: Path, tmp_path: Path):
    """``--stages 2`` splits the model over two Ray actors; lm-eval sees the same log-likelihoods."""
    results = []
    for extra in ([], ["--stages", "2", "--cpus-per-shard", "0.5"]):
        out = tmp_path / f"out{len(results)}.json"
        assert main(["eval", "--model", "toy", "--tasks", "toy_sums", "--include-path", str(tasks_dir), "--limit", "8",
                     "--json", str(out), *extra]) == 0
        results.append(json.loads(out.read_text())["results"]["toy_sums"])
    assert results[1] == pytest.approx(results[0])
    assert results[0]["acc,none"] > 0


@pytest.mark.ray
@pytest.mark.parametrize(("extra", "pattern"), [
    (["--stages", "2", "--cpus-per-shard", "64"], "2 evaluation shards needs 128 CPUs and 0 GPUs, but the Ray cluster has"),
    (["--stages", "99"], "--stages must be between 1 and the model's"),
])
def test_shards_the_cluster_cannot_host_are_refused_before_any_starts(ray_session, tasks_dir, extra, pattern, capsys):
    assert main(["eval", "--model", "toy", "--tasks", "toy_sums", "--include-path", str(tasks_dir), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert pattern in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("extra", "pattern"), [
    (["--tasks", "toy_sums", "--include-path", "no/such/dir"], "is not a directory of lm-eval task YAMLs"),
    (["--tasks", " , "], "names no task"),
    (["--tasks", "toy_sums", "--dims", "math"], "--dims belong"),
    (["--tasks", "toy_sums", "--stages", "2", "--backend", "vllm"], "--stages shards calray's own model"),
    (["--tasks", "toy_sums", "--cpus-per-shard", "0"], "--cpus-per-shard must be > 0"),
])
def test_bad_input_is_one_line_and_exit_code_2(extra, pattern, capsys):
    assert main(["eval", "--model", "toy", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert pattern in err and len(err.splitlines()) == 1
