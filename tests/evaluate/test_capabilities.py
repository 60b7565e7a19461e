"""Capability maps: strict validation, the shipped paper map, registration from YAML or Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from calray.errors import CalrayError
from calray.evaluate import (
    CAPABILITY_MAPS,
    TASKS,
    ChoiceItem,
    MultipleChoiceTask,
    capability_map,
    register_capability_map,
    register_task,
)


def test_paper_map_is_the_studys() -> None:
    paper = capability_map("paper")
    assert list(paper.dimensions) == ["general", "commonsense", "math", "code"]
    tasks = {d: [s.task for s in specs] for d, specs in paper.dimensions.items()}
    assert tasks["general"] == ["mmlu", "wikitext"] and tasks["code"] == ["humaneval", "mbpp"] and tasks["math"] == ["gsm8k"]
    assert len(tasks["commonsense"]) == 7
    keys = {s.task: s.key() for specs in paper.dimensions.values() for s in specs}
    assert keys["mmlu"]["num_fewshot"] == 5 and keys["gsm8k"]["num_fewshot"] == 5 and keys["mbpp"]["num_fewshot"] == 3
    assert keys["humaneval"]["num_fewshot"] == 0 and keys["wikitext"]["metric"] == "word_perplexity"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"dimensions": {"general": [{"task": "mmlu", "shots": 5}]}}, "shots"),  # extra key
        ({"dimensions": {"general": [{"task": "mmmlu"}]}}, "did you mean 'mmlu'"),
        ({"dimensions": {"general": [{"task": "mmlu", "metric": "bleu"}]}}, "no metric 'bleu'"),
        ({"dimensions": {"general": [{"task": "mmlu", "limit": 0}]}}, "limit"),
        ({"dimensions": {"general": []}}, "no tasks"),
        ({"dimensions": {}, "extra": 1}, "extra"),
    ],
)
def test_invalid_maps_say_what_is_wrong(bad: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(CalrayError, match=message):
        capability_map(bad)


def test_in_memory_tasks_and_a_yaml_map_register_in_a_few_lines(tmp_path: Path) -> None:
    task = MultipleChoiceTask(name="test_toy_mc", items=[ChoiceItem("2+2=", ("4", "5"), 0)])
    register_task(task)
    try:
        with pytest.raises(CalrayError, match="already registered"):
            register_task(task)
        path = tmp_path / "toy.yaml"
        path.write_text("dimensions:\n  math:\n    - {task: test_toy_mc, metric: acc, limit: 1}\n")
        cmap = register_capability_map("test_toy", path)
        assert capability_map("test_toy") is cmap and cmap.name == "test_toy"
        assert capability_map(path).dimensions["math"][0].limit == 1
    finally:
        TASKS.unregister("test_toy_mc")
        CAPABILITY_MAPS.unregister("test_toy")


def test_select_and_overrides() -> None:
    paper = capability_map("paper")
    sub = paper.select(["math", "general"]).with_overrides(limit=10, max_new_tokens=8)
    assert list(sub.dimensions) == ["general", "math"]  # the tables' order, whatever order is asked
    assert all(s.limit == 10 and s.max_new_tokens == 8 for specs in sub.dimensions.values() for s in specs)
    assert sub.digest() != paper.select(["math", "general"]).digest()
    with pytest.raises(CalrayError, match="unknown dimension"):
        paper.select(["maths"])
