"""lm-eval-harness's own task definitions, run through ``CalrayLM`` on the same local items,
agree with calray's built-in tasks (stories260k)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from calray.evaluate import HFModel, LocalData, MultipleChoiceTask, PerplexityTask, get_task

lm_eval = pytest.importorskip("lm_eval")
pytestmark = [pytest.mark.shared, pytest.mark.slow]

N = 16


def _lmeval_task(tmp: Path, name: str, base: str, split: str, records: list[dict]) -> None:  # type: ignore[type-arg]
    """A task YAML that includes lm-eval's own definition and only swaps the dataset for a
    local JSON Lines file in the hub's schema."""
    data = tmp / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    tasks_dir = Path(lm_eval.__file__).parent / "tasks"
    splits = {s: None for s in ("training_split", "validation_split", "test_split", "fewshot_split")}
    splits[f"{split}_split"] = split
    lines = [f"include: {tasks_dir / base}", f"task: {name}", "tag: null", "dataset_path: json", "dataset_name: null",
             "dataset_kwargs:", "  data_files:", f"    {split}: {data}"]
    lines += [f"{k}: {v if v else 'null'}" for k, v in splits.items()]
    (tmp / f"{name}.yaml").write_text("\n".join(lines) + "\n")


def test_builtin_tasks_agree_with_lm_eval(
    stories_lm: HFModel, local_data: LocalData, shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lm_eval.tasks import TaskManager

    from calray.evaluate.lmeval_adapter import CalrayLM

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    raw_arc = [json.loads(line) for line in open(shared_dir / "data/arc/ARC-Easy-Test.jsonl")][:N]
    _lmeval_task(
        tmp_path,
        "arc_local",
        "arc/arc_easy.yaml",
        "test",
        [
            {
                "question": r["question"]["stem"],
                "answerKey": r["answerKey"],
                "choices": {
                    "text": [c["text"] for c in r["question"]["choices"]],
                    "label": [c["label"] for c in r["question"]["choices"]],
                },
            }
            for r in raw_arc
        ],
    )
    raw_piqa = [json.loads(line) for line in open(shared_dir / "data/piqa/valid.jsonl")][:N]
    labels = (shared_dir / "data/piqa/valid-labels.lst").read_text().split()[:N]
    _lmeval_task(
        tmp_path,
        "piqa_local",
        "piqa/piqa.yaml",
        "validation",
        [{**r, "label": int(y)} for r, y in zip(raw_piqa, labels, strict=True)],
    )
    text = open(shared_dir / "data/wikitext2_raw_test/wikitext-test.txt", encoding="utf-8").read()
    from calray.evaluate.builtin.general import split_articles

    pages = sorted(split_articles(text), key=len)[:2]  # the two shortest articles
    _lmeval_task(tmp_path, "wikitext_local", "wikitext/wikitext.yaml", "test", [{"page": p} for p in pages])

    results = lm_eval.simple_evaluate(
        model=CalrayLM(stories_lm),
        tasks=["arc_local", "piqa_local", "wikitext_local"],
        task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False),
        bootstrap_iters=0,
        log_samples=False,
    )["results"]

    arc = MultipleChoiceTask(name="a", items=get_task("arc_easy").load(local_data)[0][:N]).evaluate(stories_lm)  # type: ignore[attr-defined]
    piqa = MultipleChoiceTask(name="p", items=get_task("piqa").load(local_data)[0][:N]).evaluate(stories_lm)  # type: ignore[attr-defined]
    wiki_items = sorted(get_task("wikitext").load(local_data)[0], key=lambda i: len(i.count_text))[:2]  # type: ignore[attr-defined]
    wiki = PerplexityTask(name="w", items=wiki_items).evaluate(stories_lm)
    for mine, theirs in ((arc, results["arc_local"]), (piqa, results["piqa_local"])):
        assert mine.metrics["acc"] == pytest.approx(theirs["acc,none"], abs=1e-9)
        assert mine.metrics["acc_norm"] == pytest.approx(theirs["acc_norm,none"], abs=1e-9)
    assert wiki.metrics["word_perplexity"] == pytest.approx(results["wikitext_local"]["word_perplexity,none"], rel=1e-6)
    assert wiki.metrics["byte_perplexity"] == pytest.approx(results["wikitext_local"]["byte_perplexity,none"], rel=1e-6)
    assert os.environ["HF_DATASETS_CACHE"].startswith(str(tmp_path))
