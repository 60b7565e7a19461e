"""Task kinds on a FakeLM: metrics as lm-eval defines them, prompts, shots and subsets."""

from __future__ import annotations

import math

import pytest

from calray.errors import CalrayError
from calray.evaluate import (
    AnswerItem,
    ChoiceItem,
    GenerationTask,
    MultipleChoiceTask,
    PerplexityTask,
    TaskGroup,
    TextItem,
)
from calray.evaluate.fake import FakeLM
from calray.evaluate.tasks import flexible_extract, gsm8k_normalize, strict_extract, subset


def test_acc_and_acc_norm_follow_lm_eval() -> None:
    # log-likelihoods chosen so acc (raw argmax) and acc_norm (per character) disagree
    table = {" a": -1.0, " bbbbbbbbbb": -2.0, " c": -3.0}
    lm = FakeLM(loglikelihood=lambda ctx, cont: table[cont])
    items = [ChoiceItem("Q1", ("a", "bbbbbbbbbb", "c"), 0), ChoiceItem("Q2", ("a", "bbbbbbbbbb", "c"), 1)]
    score = MultipleChoiceTask(name="t", items=items).evaluate(lm)
    # acc: argmax raw = "a" -> item 1 right, item 2 wrong; acc_norm: -2/10 beats -1/1 -> the reverse
    assert score.metrics == {"acc": 0.5, "acc_norm": 0.5}
    assert score.chance == {"acc": pytest.approx(1 / 3), "acc_norm": pytest.approx(1 / 3)}
    assert lm.calls["loglikelihood"] == 1  # all items in one batched call


def test_partial_scoring_puts_choices_in_the_context() -> None:
    seen: list[tuple[str, str]] = []

    def ll(ctx: str, cont: str) -> float:
        seen.append((ctx, cont))
        return -1.0 if ctx.endswith("Maria") else -5.0

    item = ChoiceItem(
        "always got the harder cases.", ("Sarah was better than Maria so Sarah", "Sarah was better than Maria so Maria"), 1
    )
    score = MultipleChoiceTask(name="w", items=[item], partial=True).evaluate(FakeLM(loglikelihood=ll))
    assert seen == [(c, " always got the harder cases.") for c in item.choices]
    assert score.metrics["acc"] == 1.0


def test_fewshot_prompt_format_and_shots_exclude_the_item() -> None:
    items = [ChoiceItem(f"Q{i}\nAnswer:", ("x", "y"), i % 2) for i in range(10)]
    task = MultipleChoiceTask(name="t", items=items, num_fewshot=3, description="About things.\n\n")
    for i in range(10):
        shots = task.shots(i, items, None, 3, seed=0)
        assert len(shots) == 3 and items[i] not in shots
        assert shots == task.shots(i, items, None, 3, seed=0)  # fixed per item
    first_n = MultipleChoiceTask(name="t", items=items, fewshot_items=items[:2], fewshot_sampler="first_n", description="D\n\n")
    assert first_n.prompt(5, items, items[:2], 2, seed=0) == "D\n\nQ0\nAnswer: x\n\nQ1\nAnswer: y\n\nQ5\nAnswer:"


def test_subset_is_deterministic_and_spread() -> None:
    a, b = subset(1000, 20, seed=0), subset(1000, 20, seed=0)
    assert a == b and len(set(a)) == 20 and a == sorted(a) and max(a) > 500
    assert subset(5, 20) == [0, 1, 2, 3, 4] and subset(5, None) == [0, 1, 2, 3, 4]
    assert subset(1000, 20, seed=1) != a
    with pytest.raises(CalrayError):
        subset(10, 0)


def test_perplexity_metrics_are_corpus_weighted() -> None:
    docs = [TextItem("a b c", count_text="a  b c d"), TextItem("ééé")]
    lm = FakeLM(rolling=lambda text: -2.0 * len(text.encode()))  # FakeLM: one token per byte
    score = PerplexityTask(name="p", items=docs).evaluate(lm)
    nll = 2.0 * (5 + 6)
    assert score.metrics["word_perplexity"] == pytest.approx(math.exp(nll / (4 + 1)))
    assert score.metrics["byte_perplexity"] == pytest.approx(math.exp(nll / (8 + 6)))
    assert score.metrics["bits_per_byte"] == pytest.approx(nll / 14 / math.log(2))
    assert score.metrics["token_perplexity"] == pytest.approx(math.exp(nll / 11))
    assert score.higher_is_better["word_perplexity"] is False and score.chance["word_perplexity"] is None


@pytest.mark.parametrize(
    ("generation", "strict", "flexible"),
    [
        ("She pays 3*2=6.\n#### 18", "18", "18"),
        ("The answer is 1,800 dollars.", "[invalid]", "1,800"),
        ("#### $18.", "[invalid]", "$18."),
        ("nothing here", "[invalid]", "[invalid]"),
    ],
)
def test_gsm8k_filters(generation: str, strict: str, flexible: str) -> None:
    assert strict_extract(generation) == strict
    assert flexible_extract(generation) == flexible


def test_exact_match_uses_lm_evals_normalisation() -> None:
    gold = "He has 3 + 15 = <<3+15=18>>18 apples.\n#### 1,800"
    assert gsm8k_normalize(gold) == "1800" == gsm8k_normalize(flexible_extract("so $1,800."))
    items = [AnswerItem("Question: q1\nAnswer:", gold, gold), AnswerItem("Question: q2\nAnswer:", "#### 5", "#### 5")]
    outputs = {"q1": " blah #### 1,800\n\nQuestion: next", "q2": " I think 5"}
    lm = FakeLM(generate=lambda ctx, args: outputs[ctx.split("Question: ")[-1].split("\n")[0]])
    task = GenerationTask(
        name="g",
        items=items,
        until=("Question:",),
        extractors={"exact_match": strict_extract, "exact_match_flexible": flexible_extract},
        normalize=gsm8k_normalize,
    )
    score = task.evaluate(lm)
    assert score.metrics == {"exact_match": 0.5, "exact_match_flexible": 1.0}
    assert lm.calls["generate_until"] == 1


def test_group_is_item_weighted_like_lm_eval() -> None:
    right = ChoiceItem("q", ("yes", "no"), 0)
    wrong = ChoiceItem("q", ("no", "yes"), 1)
    lm = FakeLM(loglikelihood=lambda ctx, cont: -1.0 if cont == " yes" else -2.0)
    a = MultipleChoiceTask(name="a", items=[right] * 3)
    b = MultipleChoiceTask(name="b", items=[wrong])
    assert b.evaluate(lm).metrics["acc"] == 1.0
    b2 = MultipleChoiceTask(name="b", items=[ChoiceItem("q", ("yes", "no"), 1)])
    score = TaskGroup(name="g", subtasks=[a, b2]).evaluate(lm)
    assert score.metrics["acc"] == pytest.approx(3 / 4) and score.n == 4 and set(score.subtasks) == {"a", "b"}


def test_empty_task_is_an_error() -> None:
    with pytest.raises(CalrayError, match="no items"):
        MultipleChoiceTask(name="e", items=[]).evaluate(FakeLM())


def test_scores_keep_every_items_value_and_lm_evals_standard_error() -> None:
    from lm_eval.api.metrics import mean_stderr

    items = [ChoiceItem(f"Q{i}", ("yes", "no"), i % 3 == 0) for i in range(12)]  # gold "no" on every third item
    lm = FakeLM(loglikelihood=lambda ctx, cont: -1.0 if cont == " yes" else -2.0)
    score = MultipleChoiceTask(name="t", items=items).evaluate(lm)
    assert score.items["acc"] == [float(i % 3 != 0) for i in range(12)]
    assert score.metrics["acc"] == pytest.approx(sum(score.items["acc"]) / 12)
    assert score.stderr("acc") == pytest.approx(mean_stderr(score.items["acc"]))
    # a group's items are its subtasks' in order; a perplexity's are each document's parts, and has no stderr
    group = TaskGroup(name="g", subtasks=[MultipleChoiceTask(name="a", items=items[:5]),
                                          MultipleChoiceTask(name="b", items=items[5:])]).evaluate(lm)
    assert group.items["acc"] == score.items["acc"] and group.stderr("acc") == pytest.approx(score.stderr("acc"))
    docs = [TextItem("a b c"), TextItem("dd ee")]
    ppl = PerplexityTask(name="p", items=docs).evaluate(FakeLM(rolling=lambda text: -2.0 * len(text.encode())))
    assert ppl.items == {"nll": [10.0, 10.0], "words": [3.0, 2.0], "bytes": [5.0, 5.0], "tokens": [5.0, 5.0]}
    assert ppl.stderr("token_perplexity") is None
