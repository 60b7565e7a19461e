"""Retention arithmetic, the at-chance rule, an unpruned model at exactly 100, the dense cache."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from calray.evaluate import (
    TASKS,
    AnswerItem,
    ChanceRule,
    ChoiceItem,
    CodeItem,
    CodeTask,
    DenseCache,
    GenerationTask,
    MultipleChoiceTask,
    PerplexityTask,
    TextItem,
    capability_map,
    evaluate_capabilities,
    fingerprint_module,
    register_task,
    retention,
)
from calray.evaluate.fake import FakeLM
from calray.evaluate.retention import UNDEFINED_AT_CHANCE, task_retention
from calray.tiny import tiny_model


def test_ratio_directions() -> None:
    assert task_retention(0.5, 0.4, higher_is_better=True) == pytest.approx(80.0)
    assert task_retention(10.0, 20.0, higher_is_better=False) == pytest.approx(50.0)
    assert task_retention(10.0, math.inf, higher_is_better=False) == 0.0


def test_chance_rule() -> None:
    rule = ChanceRule()
    assert rule.at_chance(0.26, 0.25, 1000)  # within 2 standard errors (0.027)
    assert not rule.at_chance(0.40, 0.25, 1000)
    assert rule.at_chance(0.005, 0.0, 500) and not rule.at_chance(0.05, 0.0, 500)  # min margin for chance 0
    assert not rule.at_chance(5.0, None, 10)  # perplexity: no chance level


@pytest.fixture
def toy_map():  # type: ignore[no-untyped-def]
    """Four dimensions of in-memory tasks, one per task kind (how the toy world registers)."""
    mc = [ChoiceItem(f"Q{i}:", ("right", "wrong", "other"), 0) for i in range(20)]
    gen = [AnswerItem(f"Sum {i}+1?", str(i + 1), str(i + 1)) for i in range(10)]
    code = [CodeItem(f"def f{i}(x):\n", f"assert f{i}(1) == {i + 1}", program_prefix=f"def f{i}(x):\n") for i in range(3)]
    tasks = [
        MultipleChoiceTask(name="t_mc", items=mc),
        PerplexityTask(name="t_ppl", items=[TextItem("some text here"), TextItem("more text")], metric="token_perplexity"),
        GenerationTask(name="t_gen", items=gen, until=("\n",)),
        CodeTask(name="t_code", items=code),
    ]
    for t in tasks:
        register_task(t)
    yield capability_map(
        {
            "name": "toy_test",
            "dimensions": {
                "general": [{"task": "t_ppl"}],
                "commonsense": [{"task": "t_mc", "metric": "acc"}],
                "math": [{"task": "t_gen", "metric": "exact_match"}],
                "code": [{"task": "t_code"}],
            },
        }
    )
    for t in tasks:
        TASKS.unregister(t.name)


def oracle(skill: float = 1.0) -> FakeLM:
    """Knows the answers of the toy tasks (``skill`` < 1: a damaged copy)."""

    def generate(ctx: str, args) -> str:  # type: ignore[no-untyped-def]
        if ctx.startswith("def f"):
            i = int(ctx[5 : ctx.index("(")])
            return f"    return x + {i}\n" if i < 3 * skill else "    return 0\n"
        i = int(ctx.split()[1].split("+")[0])
        return str(i + 1) if i < 10 * skill else "?"

    return FakeLM(
        loglikelihood=lambda ctx, cont: -1.0 if cont == (" right" if int(ctx[1:-1]) < 20 * skill else " other") else -2.0,
        rolling=lambda text: -1.0 * len(text) / skill,
        generate=generate,
    )


def test_unpruned_model_retains_exactly_100_on_every_dimension(toy_map) -> None:  # type: ignore[no-untyped-def]
    dense = evaluate_capabilities(oracle(), toy_map)
    again = evaluate_capabilities(oracle(), toy_map)
    report = retention(again, dense)
    assert report.dimensions == {"general": 100.0, "commonsense": 100.0, "math": 100.0, "code": 100.0}
    assert report.total == 100.0
    damaged = retention(evaluate_capabilities(oracle(0.5), toy_map), dense)
    assert damaged.dimensions["commonsense"] == pytest.approx(50.0)
    assert damaged.dimensions["general"] == pytest.approx(100 / math.e)  # token ppl e^1 -> e^2, dense/pruned
    assert damaged.dimensions["code"] == pytest.approx(100 * (2 / 3))  # f0, f1 pass (i < 1.5)


def test_dense_at_chance_is_reported_not_divided(toy_map) -> None:  # type: ignore[no-untyped-def]
    guesser = FakeLM(loglikelihood=lambda ctx, cont: -1.0 if cont == " other" else -2.0)  # always wrong
    dense = evaluate_capabilities(guesser, toy_map)
    report = retention(evaluate_capabilities(oracle(), toy_map), dense)
    rows = {r.task: r for r in report.tasks}
    assert (
        rows["t_mc"].retention is None
        and rows["t_mc"].note == UNDEFINED_AT_CHANCE
        and rows["t_mc"].chance == pytest.approx(1 / 3)
    )
    assert report.dimensions["commonsense"] is None and report.dimensions["math"] is None
    assert report.total == pytest.approx(report.dimensions["general"])  # only defined dimensions count


def test_dense_scores_are_computed_once(toy_map, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = DenseCache(tmp_path)
    first = oracle()
    scores = cache.scores("fp", toy_map, lambda cached: evaluate_capabilities(first, toy_map, cached=cached))
    assert sum(first.calls.values()) > 0
    second = oracle(0.5)  # would give different numbers if it were asked
    again = cache.scores("fp", toy_map, lambda cached: evaluate_capabilities(second, toy_map, cached=cached))
    assert sum(second.calls.values()) == 0
    assert {k: v.metrics for k, v in again.tasks.items()} == {k: v.metrics for k, v in scores.tasks.items()}
    assert cache.scores("other", toy_map, lambda cached: evaluate_capabilities(second, toy_map, cached=cached)) is not None
    assert sum(second.calls.values()) > 0  # another fingerprint is another model


def test_fingerprints_tell_weights_apart() -> None:
    a, b = tiny_model("llama", seed=0), tiny_model("llama", seed=1)
    assert fingerprint_module(a) == fingerprint_module(tiny_model("llama", seed=0)) != fingerprint_module(b)
