"""Every evaluation file of the offline kit runs through its built-in task (stories260k, a few
items each), the files' quirks are handled, and prompts are lm-eval's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from calray.evaluate import HFModel, LocalData, TaskSpec, evaluate_task, get_task
from calray.evaluate.builtin import sources
from calray.evaluate.builtin.general import split_articles, wikitext_detokenize
from calray.evaluate.fake import FakeLM

pytestmark = pytest.mark.shared

# task -> (file(s) it reads under shared/data, items in the full file)
FILES = {
    "wikitext": ("wikitext2_raw_test/wikitext-test.txt", None),
    "mmlu": ("mmlu", 2112),
    "hellaswag": ("hellaswag/hellaswag_val_full.txt.bz2", 10042),
    "piqa": ("piqa/valid.jsonl", 1838),
    "winogrande": ("winogrande/winogrande.jsonl", 1267),
    "arc_easy": ("arc/ARC-Easy-Test.jsonl", 2376),
    "arc_challenge": ("arc/ARC-Challenge-Test.jsonl", 1172),
    "boolq": ("boolq/val.jsonl", 3270),
    "openbookqa": ("openbookqa/openbook_qa.jsonl", 500),
    "gsm8k": ("gsm8k/test.jsonl", 1319),
    "humaneval": ("humaneval/HumanEval.jsonl.gz", 164),
    "mbpp": ("mbpp/mbpp.jsonl", 500),
    "svamp": ("svamp/SVAMP.json", 1000),
    "math500": ("math500/test.jsonl", 500),
    "tinyshakespeare": ("tinyshakespeare/input.txt", 216),  # passages of >= 5,000 characters
}


@pytest.mark.parametrize("task", sorted(FILES))
def test_every_task_runs_on_local_data_with_stories260k(task: str, stories_lm: HFModel, local_data: LocalData) -> None:
    spec = TaskSpec(task=task, limit=2 if task != "mmlu" else 1, max_new_tokens=16)
    score = evaluate_task(stories_lm, spec, data=local_data)
    metric = spec.resolved_metric
    assert score.n == (8 if task == "mmlu" else 2)  # mmlu: the limit applies per subject, 8 local subjects
    assert score.metrics[metric] == score.metrics[metric]  # not NaN
    if score.higher_is_better[metric]:
        assert 0.0 <= score.metrics[metric] <= 1.0 and score.chance[metric] is not None
    else:
        assert score.metrics[metric] > 1.0 and score.chance[metric] is None


@pytest.mark.parametrize("task", sorted(t for t, (_, n) in FILES.items() if n))
def test_full_files_parse_to_the_manifest_counts(task: str, local_data: LocalData) -> None:
    evaluable = get_task(task)
    if task == "mmlu":
        n = sum(len(t.load(local_data)[0]) for t in evaluable.tasks(local_data))  # type: ignore[attr-defined]
    else:
        n = len(evaluable.load(local_data)[0])  # type: ignore[attr-defined]
    assert n == FILES[task][1]


def test_data_quirks(local_data: LocalData, shared_dir: Path) -> None:
    boolq = get_task("boolq").load(local_data)[0]  # type: ignore[attr-defined]
    assert sum(i.gold for i in boolq) == 2033  # "true" strings -> 1 ("yes")
    arc = get_task("arc_easy").load(local_data)[0]  # type: ignore[attr-defined]
    raw = [json.loads(line) for line in open(shared_dir / "data/arc/ARC-Easy-Test.jsonl")]
    digit = [(r, i) for r, i in zip(raw, arc, strict=True) if r["answerKey"].isdigit()]
    assert len(digit) == 97 and all(
        i.choices[i.gold] == next(c["text"] for c in r["question"]["choices"] if c["label"] == r["answerKey"]) for r, i in digit
    )
    piqa = get_task("piqa").load(local_data)[0]  # type: ignore[attr-defined]
    assert sum(i.gold for i in piqa) == 928
    mbpp, shots = get_task("mbpp").load(local_data)  # type: ignore[attr-defined]
    assert len(shots) == 3 and shots[0].target.startswith("def similar_elements") and shots[0].target.endswith("\n[DONE]")


def test_wikitext_reads_crlf_as_text_and_splits_articles(shared_dir: Path, local_data: LocalData) -> None:
    text = open(shared_dir / "data/wikitext2_raw_test/wikitext-test.txt", encoding="utf-8").read()
    assert "\r" not in text and len(text) == 1_294_336
    pages = split_articles(text)
    assert "".join(pages) == text.lstrip("\n") or "".join(pages).strip() == text.strip()
    assert pages[0].startswith(" = Robert Boulter = ") and len(pages) > 40
    items = get_task("wikitext").load(local_data)[0]  # type: ignore[attr-defined]
    assert sum(i.words for i in items) >= 241_211  # counted on the original text, as lm-eval
    assert "@-@" not in items[0].text and wikitext_detokenize("a @-@ b , c") == "a-b, c"


def test_prompts_are_lm_evals(local_data: LocalData) -> None:
    lm = FakeLM()
    seen: list[tuple[str, str]] = []
    record = FakeLM(loglikelihood=lambda c, x: seen.append((c, x)) or -1.0)  # type: ignore[func-returns-value]
    mmlu = get_task("mmlu")
    sub = mmlu.tasks(local_data)[2]  # type: ignore[attr-defined]
    assert sub.name == "mmlu_global_facts"
    sub.evaluate(record, data=local_data, limit=1)
    ctx, cont = seen[0]
    assert ctx.startswith("The following are multiple choice questions (with answers) about global facts.\n\n")
    assert ctx.count("\nAnswer:") == 6 and ctx.endswith("\nD. " + ctx.split("\nD. ")[-1]) and ctx.endswith("Answer:")
    assert "\nAnswer: B\n\n" in ctx and cont == " A"
    seen.clear()
    get_task("boolq").evaluate(record, data=local_data, limit=1)  # type: ignore[attr-defined]
    assert seen[0][0].endswith("?\nAnswer:") and "\nQuestion: " in seen[0][0] and [c for _, c in seen] == [" no", " yes"]
    gsm = get_task("gsm8k")
    items, pool = gsm.load(local_data)  # type: ignore[attr-defined]
    prompt = gsm.prompt(0, items, pool, 5, seed=0)  # type: ignore[attr-defined]
    assert prompt.count("Question: ") == 6 and prompt.count("\n#### ") == 5 and prompt.endswith("\nAnswer:")
    assert lm.calls["loglikelihood"] == 0


def test_canonical_humaneval_solutions_pass(shared_dir: Path, local_data: LocalData) -> None:
    with gzip.open(shared_dir / "data/humaneval/HumanEval.jsonl.gz", "rt") as f:
        solutions = {r["prompt"]: r["canonical_solution"] for r in map(json.loads, f)}
    task = get_task("humaneval")
    right = FakeLM(generate=lambda ctx, args: solutions[ctx])
    wrong = FakeLM(generate=lambda ctx, args: "    return None\n")
    assert task.evaluate(right, data=local_data, limit=6).metrics["pass@1"] == 1.0
    assert task.evaluate(wrong, data=local_data, limit=6).metrics["pass@1"] == 0.0


def test_mbpp_reference_code_passes(local_data: LocalData, shared_dir: Path) -> None:
    codes = {r["text"]: r["code"] for r in map(json.loads, open(shared_dir / "data/mbpp/mbpp.jsonl"))}
    right = FakeLM(generate=lambda ctx, args: codes[ctx.split("here is your task: ")[-1].split(" Your code should")[0]])
    assert get_task("mbpp").evaluate(right, data=local_data, limit=6).metrics["pass@1"] == 1.0


def test_math500_answers_extract_and_normalise(local_data: LocalData) -> None:
    from calray.evaluate.builtin.extra_math import extract_final_answer, normalize_final_answer

    items = get_task("math500").load(local_data)[0]  # type: ignore[attr-defined]
    # the few-shot targets end in Minerva's answer sentence: it must read back as the answer
    assert all(normalize_final_answer(extract_final_answer(i.target)) == normalize_final_answer(i.answer) for i in items)
    assert normalize_final_answer("\\boxed{\\dfrac{1}{2}}") == normalize_final_answer("$\\frac12$") == "\\frac{1}{2}"
    assert extract_final_answer("so \\boxed{x^{2}} done") == "x^{2}"
    svamp = get_task("svamp").load(local_data)[0]  # type: ignore[attr-defined]
    assert svamp[0].answer == "51" and svamp[0].query.endswith("pack?\nAnswer:")


def test_hub_rows_map_to_the_same_items(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = {
        "allenai/ai2_arc": [{"question": "Q?", "choices": {"text": ["a", "b"], "label": ["1", "2"]}, "answerKey": "2"}],
        "aps/super_glue": [{"passage": "P", "question": "q", "label": 1}],
        "allenai/winogrande": [{"sentence": "A so _ won.", "option1": "X", "option2": "Y", "answer": "2"}],
        "Rowan/hellaswag": [
            {"activity_label": "Run", "ctx_a": "A man runs.", "ctx_b": "he", "endings": ["x [step]", "y"], "label": "1"}
        ],
    }
    monkeypatch.setattr(sources, "hub_rows", lambda task, path, name, split: hub[path])
    import calray.evaluate.builtin.commonsense as cs

    monkeypatch.setattr(cs, "hub_rows", lambda task, path, name, split: hub[path])
    assert get_task("arc_easy").load(None)[0][0].gold == 1  # type: ignore[attr-defined]
    assert get_task("boolq").load(None)[0][0].query == "P\nQuestion: q?\nAnswer:"  # type: ignore[attr-defined]
    wino = get_task("winogrande").load(None)[0][0]  # type: ignore[attr-defined]
    assert wino.choices == ("A so X", "A so Y") and wino.query == "won." and wino.gold == 1
    hs = get_task("hellaswag").load(None)[0][0]  # type: ignore[attr-defined]
    assert hs.query == "Run: A man runs. He" and hs.choices == ("x ", "y") and hs.gold == 1  # lm-eval keeps that space
