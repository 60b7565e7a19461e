"""The toy world's tasks in the harness: registered in their kinds, the ``toy`` map, and the
records scored the way the toy world defines them (extraction, hidden tests)."""

from __future__ import annotations

import pytest

import calray.toy
from calray.evaluate import (
    CodeTask,
    GenerationTask,
    MultipleChoiceTask,
    PerplexityTask,
    SandboxLimits,
    capability_map,
    get_task,
    run_programs,
)
from calray.evaluate.tasks import strict_extract

KINDS = {"perplexity": PerplexityTask, "multiple_choice": MultipleChoiceTask, "exact_match": GenerationTask,
         "pass_at_1": CodeTask}


@pytest.mark.parametrize("toy", calray.toy.TASKS, ids=lambda t: t.name)
def test_every_toy_task_is_registered_in_its_kind_with_all_its_records(toy: calray.toy.ToyTask) -> None:
    task = get_task(toy.name)
    assert isinstance(task, KINDS[toy.kind])
    items, _ = task.load(None)  # type: ignore[attr-defined]
    assert len(items) == toy.size
    first = toy.records(1)[0]
    prompt = {"perplexity": "", "pass_at_1": getattr(first, "prompt", None)}.get(toy.kind, getattr(first, "query", None))
    assert task.query(items[0]) == prompt  # zero-shot: the prompt is the record's own


def test_the_toy_map_groups_the_tasks_by_their_dimension() -> None:
    cmap = capability_map("toy")
    assert list(cmap.dimensions) == ["general", "commonsense", "math", "code"]
    for dim, specs in cmap.dimensions.items():
        assert [s.task for s in specs] == [t.name for t in calray.toy.TASKS if t.dimension == dim]
        for spec in specs:
            kind = calray.toy.task(spec.task).kind
            assert spec.resolved_metric == {"perplexity": "token_perplexity", "multiple_choice": "acc",
                                            "exact_match": "exact_match", "pass_at_1": "pass@1"}[kind]


def test_generation_settings_follow_the_toy_world() -> None:
    gsm, humaneval = get_task("toy:gsm"), get_task("toy:humaneval")
    assert gsm.until == calray.toy.MATH_STOP and gsm.max_new_tokens == 100  # type: ignore[attr-defined]
    assert humaneval.until == calray.toy.CODE_STOP and humaneval.max_new_tokens == 128  # type: ignore[attr-defined]
    items, _ = gsm.load(None)  # type: ignore[attr-defined]
    # the worked solution's "#### N" is what the strict filter reads, and it is the answer
    assert all(strict_extract(item.target) == item.answer for item in items)


def test_reference_solutions_pass_the_hidden_tests_and_wrong_ones_fail() -> None:
    items, _ = get_task("toy:humaneval").load(None)  # type: ignore[attr-defined]
    chosen = items[:4]
    programs = [item.program(item.target) for item in chosen] + [item.program("    return None\n") for item in chosen]
    results = run_programs(programs, SandboxLimits(timeout_s=10), workers=2)
    assert [r.passed for r in results] == [True] * 4 + [False] * 4
