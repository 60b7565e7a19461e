"""Greedy generation scored by exact match of an extracted answer (GSM8K and the like).

Each metric is a *filter* (an extractor applied to the generation) followed by exact match
after ``normalize`` (applied to prediction and reference alike), as lm-eval's filter_list +
``exact_match`` with ``regexes_to_ignore``. GSM8K's two filters are provided:
``strict_extract`` (the number after ``#### ``) and ``flexible_extract`` (the last number).
Chance is 0: a model that guesses cannot match a free-form answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from calray.evaluate.interface import GenerationArgs
from calray.evaluate.tasks.base import MetricInfo, Task, TaskScore

INVALID = "[invalid]"  # lm-eval's regex-filter fallback when nothing matches


@dataclass(frozen=True)
class AnswerItem:
    """A question, its worked answer as shown in few-shot examples, and the reference answer."""

    query: str
    target: str
    answer: str


def regex_extract(pattern: str, *, group_select: int = 0) -> Callable[[str], str]:
    """lm-eval's ``regex`` filter: the ``group_select``-th match (negative from the end); for a
    pattern with alternative groups, the non-empty group; ``[invalid]`` when nothing matches."""
    compiled = re.compile(pattern)

    def extract(text: str) -> str:
        matches = compiled.findall(text)
        if not matches:
            return INVALID
        match = matches[group_select] if -len(matches) <= group_select < len(matches) else matches[0]
        if isinstance(match, tuple):
            match = next((m for m in match if m), match[0])
        return match.strip()

    return extract


strict_extract = regex_extract(r"#### (\-?[0-9\.\,]+)")
flexible_extract = regex_extract(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1)


def ignore_regexes(*patterns: str, ignore_case: bool = True) -> Callable[[str], str]:
    """lm-eval's exact_match normalisation: drop every match of ``patterns``, optionally lower-case."""
    compiled = [re.compile(p) for p in patterns]

    def normalize(text: str) -> str:
        for c in compiled:
            text = c.sub("", text)
        return text.lower() if ignore_case else text

    return normalize


gsm8k_normalize = ignore_regexes(",", r"\$", r"(?s).*#### ", r"\.$")


def _strip(text: str) -> str:
    return text.strip()


@dataclass(frozen=True, kw_only=True)
class GenerationTask(Task[AnswerItem]):
    """``extractors``: metric name -> filter; every metric is exact match after its filter."""

    until: tuple[str, ...] = ()
    max_new_tokens: int = 256
    extractors: Mapping[str, Callable[[str], str]] = field(default_factory=lambda: {"exact_match": _strip})
    normalize: Callable[[str], str] = _strip
    metric: str = "exact_match"

    @property
    def metrics(self) -> dict[str, MetricInfo]:
        return {m: MetricInfo(higher_is_better=True) for m in self.extractors}

    @property
    def default_metric(self) -> str:
        return self.metric

    def query(self, item: AnswerItem) -> str:
        return item.query

    def target(self, item: AnswerItem) -> str:
        return item.target

    def generation_args(self, max_new_tokens: int | None) -> GenerationArgs:
        return GenerationArgs(until=self.until, max_new_tokens=max_new_tokens or self.max_new_tokens)

    def evaluate(self, model, *, data=None, limit=None, num_fewshot=None, max_new_tokens=None, seed=0) -> TaskScore:
        items, pool, chosen = self.select(data, limit, seed)
        k = self.num_fewshot if num_fewshot is None else num_fewshot
        args = self.generation_args(max_new_tokens)
        outputs = model.generate_until([(self.prompt(i, items, pool, k, seed), args) for i in chosen])
        hits = {
            name: [float(self.normalize(extract(out)) == self.normalize(items[i].answer))
                   for i, out in zip(chosen, outputs, strict=True)]
            for name, extract in self.extractors.items()
        }
        metrics = {name: sum(h) / len(chosen) for name, h in hits.items()}
        return self.make_score(metrics, len(chosen), {m: 0.0 for m in metrics}, hits)
