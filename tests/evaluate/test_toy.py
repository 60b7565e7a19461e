"""The toy world's tasks in the harness: registered in their kinds, the ``toy`` map, and the
records scored the way the toy world defines them (extraction, hidden tests)."""

from __future__ import annotations

import hashlib
import json

import pytest

import calray.toy
from calray.evaluate import (
    CodeTask,
    GenerationTask,
    HFModel,
    MultipleChoiceTask,
    PerplexityTask,
    SandboxLimits,
    capability_map,
    evaluate_capabilities,
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


# ---- the shipped checkpoint's dense scores (calray/toy/model/dense_scores.json, its card) ----

SCORES = json.loads((calray.toy.MODEL_DIR / "dense_scores.json").read_text())


def test_the_scores_file_is_of_this_checkpoint_and_the_card_shows_it() -> None:
    weights = (calray.toy.MODEL_DIR / "model.safetensors").read_bytes()
    assert hashlib.sha256(weights).hexdigest() == SCORES["checkpoint_sha256"], "retrained: re-run the card's command"
    card = (calray.toy.MODEL_DIR / "README.md").read_text()
    dense = card.split("## Dense scores", 1)[1].split("\n## ", 1)[0]  # the card has other toy: tables
    rows = {cells[0]: cells for line in dense.splitlines()
            if (cells := [c.strip() for c in line.strip("|").split("|")]) and cells[0].startswith("toy:")}
    assert set(rows) == set(SCORES["tasks"]) == {t.name for t in calray.toy.TASKS}
    for name, entry in SCORES["tasks"].items():
        chance = "-" if entry["chance"] is None else f"{entry['chance']:.2f}"
        assert rows[name][1:] == [entry["dimension"], f"{entry['metric']} ({entry['n']})", f"{entry['score']:.4f}", chance]


def test_the_shipped_checkpoint_still_scores_what_its_card_says() -> None:
    """Deterministic evaluation of the harness's fixed --limit subset (seed 0), as recorded."""
    check = SCORES["check"]
    lm = HFModel.from_pretrained(calray.toy.MODEL_DIR, batch_size=16, progress=False)
    scores = evaluate_capabilities(lm, capability_map("toy").with_overrides(limit=check["limit"]))
    for name, expected in check["scores"].items():
        metric = SCORES["tasks"][name]["metric"]
        got = scores.tasks[name].metrics[metric]
        assert scores.tasks[name].n == check["limit"]
        assert got == pytest.approx(expected, rel=1e-4 if "perplexity" in metric else 0, abs=1e-9), name
