"""gsm8k, lm-eval's default variant: 5 random train examples, "Question: ...\\nAnswer:", greedy
until "Question:", exact match after the strict (``#### N``) or flexible (last number) filter."""

from __future__ import annotations

from calray.evaluate.builtin.sources import LocalData, rows
from calray.evaluate.registry import register_task
from calray.evaluate.tasks import AnswerItem, GenerationTask, flexible_extract, gsm8k_normalize, strict_extract


def _items(split: str, data: LocalData | None) -> list[AnswerItem]:
    key = "gsm8k" if split == "test" else "gsm8k_train"
    recs, _ = rows(key, data, f"gsm8k/{split}.jsonl", ("openai/gsm8k", "main", split))
    return [AnswerItem(f"Question: {r['question']}\nAnswer:", r["answer"], r["answer"]) for r in recs]


GSM8K = GenerationTask(
    name="gsm8k",
    items=lambda data: _items("test", data),
    fewshot_items=lambda data: _items("train", data),
    num_fewshot=5,
    until=("Question:", "</s>", "<|im_end|>"),
    max_new_tokens=256,
    extractors={"exact_match": strict_extract, "exact_match_flexible": flexible_extract},
    normalize=gsm8k_normalize,
    metric="exact_match",
)
register_task(GSM8K)
