"""The seven commonsense tasks, with lm-eval-harness's prompts (see each ``*.yaml`` there)."""

from __future__ import annotations

import functools
import re

from calray.evaluate.builtin.sources import LocalData, chunks, hub_rows, open_text, read_jsonl, rows
from calray.evaluate.registry import register_task
from calray.evaluate.tasks import ChoiceItem, MultipleChoiceTask


def hellaswag_preprocess(text: str) -> str:
    """lm-eval's hellaswag ``preprocess``: strip WikiHow bracket markers and double spaces."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _capitalize_last_clause(ctx: str) -> str:
    """lm-eval capitalises ``ctx_b``; the local file has ctx_a and ctx_b joined, so capitalise
    the clause after the last sentence end when it starts in lower case (ctx_b's usual shape)."""
    cut = ctx.rfind(". ")
    if cut != -1 and ctx[cut + 2 : cut + 3].islower():
        return ctx[: cut + 2] + ctx[cut + 2].upper() + ctx[cut + 3 :]
    return ctx


def hellaswag_items(data: LocalData | None) -> list[ChoiceItem]:
    path = data.path("hellaswag", "hellaswag/hellaswag_val_full.txt.bz2") if data else None
    if path is None:
        return [
            ChoiceItem(
                hellaswag_preprocess(r["activity_label"] + ": " + r["ctx_a"] + " " + r["ctx_b"].capitalize()),
                tuple(hellaswag_preprocess(e) for e in r["endings"]),
                int(r["label"]),
            )
            for r in hub_rows("hellaswag", "Rowan/hellaswag", None, "validation")
        ]
    with open_text(path) as f:
        lines = f.read().split("\n")
    lines = lines[: len(lines) // 6 * 6]  # drop the final empty line
    return [
        ChoiceItem(hellaswag_preprocess(_capitalize_last_clause(c[0])), tuple(hellaswag_preprocess(e) for e in c[2:6]), int(c[1]))
        for c in chunks(lines, 6)
    ]


def piqa_items(data: LocalData | None) -> list[ChoiceItem]:
    path = data.path("piqa", "piqa/valid.jsonl") if data else None
    if path is None:
        recs = hub_rows("piqa", "baber/piqa", None, "validation")
        labels = [int(r["label"]) for r in recs]
    else:
        recs = read_jsonl(path)
        label_path = path.with_name(path.stem + "-labels.lst")
        labels = [int(x) for x in label_path.read_text().split()]
        if len(labels) != len(recs):
            raise ValueError(f"{label_path} has {len(labels)} labels for {len(recs)} questions")
    return [ChoiceItem(f"Question: {r['goal']}\nAnswer:", (r["sol1"], r["sol2"]), y) for r, y in zip(recs, labels, strict=True)]


def winogrande_items(data: LocalData | None) -> list[ChoiceItem]:
    recs, local = rows("winogrande", data, "winogrande/winogrande.jsonl", ("allenai/winogrande", "winogrande_xl", "validation"))
    if local:  # llm-foundry layout: the sentence prefix with each option filled in, shared rest
        return [ChoiceItem(r["continuation"].strip(), tuple(r["context_options"]), int(r["gold"])) for r in recs]
    items = []
    for r in recs:
        i = r["sentence"].index("_")
        prefix = r["sentence"][:i]
        items.append(
            ChoiceItem(r["sentence"][i + 1 :].strip(), (prefix + r["option1"], prefix + r["option2"]), int(r["answer"]) - 1)
        )
    return items


def arc_items(task: str, data: LocalData | None) -> list[ChoiceItem]:
    file = {"arc_easy": "arc/ARC-Easy-Test.jsonl", "arc_challenge": "arc/ARC-Challenge-Test.jsonl"}[task]
    name = {"arc_easy": "ARC-Easy", "arc_challenge": "ARC-Challenge"}[task]
    recs, local = rows(task, data, file, ("allenai/ai2_arc", name, "test"))
    items = []
    for r in recs:
        if local:  # AI2 layout: labels may be letters or digits; match answerKey against them
            stem, texts, labels = (
                r["question"]["stem"],
                [c["text"] for c in r["question"]["choices"]],
                [c["label"] for c in r["question"]["choices"]],
            )
        else:
            stem, texts, labels = r["question"], r["choices"]["text"], r["choices"]["label"]
        items.append(ChoiceItem(f"Question: {stem}\nAnswer:", tuple(texts), labels.index(r["answerKey"])))
    return items


def boolq_items(data: LocalData | None) -> list[ChoiceItem]:
    recs, _ = rows("boolq", data, "boolq/val.jsonl", ("aps/super_glue", "boolq", "validation"))

    def label(value: object) -> int:  # the local file has the strings "true"/"false"
        if isinstance(value, str):
            return {"true": 1, "false": 0}[value.strip().lower()]
        return int(value)  # type: ignore[call-overload]

    return [ChoiceItem(f"{r['passage']}\nQuestion: {r['question']}?\nAnswer:", ("no", "yes"), label(r["label"])) for r in recs]


def openbookqa_items(data: LocalData | None) -> list[ChoiceItem]:
    recs, local = rows("openbookqa", data, "openbookqa/openbook_qa.jsonl", ("allenai/openbookqa", "main", "test"))
    if local:  # llm-foundry layout
        return [ChoiceItem(r["query"], tuple(r["choices"]), int(r["gold"])) for r in recs]
    return [
        ChoiceItem(r["question_stem"], tuple(r["choices"]["text"]), r["choices"]["label"].index(r["answerKey"].lstrip()))
        for r in recs
    ]


COMMONSENSE = [
    MultipleChoiceTask(name="hellaswag", items=hellaswag_items, metric="acc_norm"),
    MultipleChoiceTask(name="piqa", items=piqa_items, metric="acc_norm"),
    MultipleChoiceTask(name="winogrande", items=winogrande_items, partial=True, metric="acc"),
    MultipleChoiceTask(name="arc_easy", items=functools.partial(arc_items, "arc_easy"), metric="acc_norm"),
    MultipleChoiceTask(name="arc_challenge", items=functools.partial(arc_items, "arc_challenge"), metric="acc_norm"),
    MultipleChoiceTask(name="boolq", items=boolq_items, metric="acc"),
    MultipleChoiceTask(name="openbookqa", items=openbookqa_items, metric="acc_norm"),
]
for _task in COMMONSENSE:
    register_task(_task)

__all__ = ["COMMONSENSE", "hellaswag_preprocess"]
