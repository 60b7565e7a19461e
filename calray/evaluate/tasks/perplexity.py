"""Rolling perplexity over whole documents (lm-eval's ``loglikelihood_rolling`` tasks).

Every token of every document is predicted once; corpus-level metrics divide the summed
negative log-likelihood by the summed number of words, bytes or tokens (lm-eval's
``weighted_perplexity``). Words are counted as lm-eval does for wikitext: ``re.split(r"\\s+")``
of the *original* text (``count_text``) when the scored text was detokenised. Lower is
better; a perplexity has no chance level, so retention is always defined for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from calray.evaluate.tasks.base import MetricInfo, Task, TaskScore
from calray.item_scores import PERPLEXITY_PARTS, perplexities


@dataclass(frozen=True)
class TextItem:
    """One document to score; words and bytes are counted on ``count_text`` (default: ``text``)."""

    text: str
    count_text: str | None = None

    @property
    def words(self) -> int:
        return len(re.split(r"\s+", self.count_text if self.count_text is not None else self.text))

    @property
    def bytes(self) -> int:
        return len((self.count_text if self.count_text is not None else self.text).encode("utf-8"))


PPL_METRICS = {
    "word_perplexity": MetricInfo(higher_is_better=False, has_chance=False),
    "byte_perplexity": MetricInfo(higher_is_better=False, has_chance=False),
    "bits_per_byte": MetricInfo(higher_is_better=False, has_chance=False),
    "token_perplexity": MetricInfo(higher_is_better=False, has_chance=False),
}


@dataclass(frozen=True, kw_only=True)
class PerplexityTask(Task[TextItem]):
    metric: str = "word_perplexity"

    @property
    def metrics(self) -> dict[str, MetricInfo]:
        return PPL_METRICS

    @property
    def default_metric(self) -> str:
        return self.metric

    def query(self, item: TextItem) -> str:
        return ""

    def target(self, item: TextItem) -> str:
        return item.text

    def evaluate(self, model, *, data=None, limit=None, num_fewshot=None, max_new_tokens=None, seed=0) -> TaskScore:
        items, _, chosen = self.select(data, limit, seed)
        docs = [items[i] for i in chosen]
        results = model.loglikelihood_rolling([d.text for d in docs])
        parts = {
            "nll": [-r.logprob for r in results],
            "words": [float(d.words) for d in docs],
            "bytes": [float(d.bytes) for d in docs],
            "tokens": [float(r.tokens) for r in results],
        }
        metrics = {k: float(v) for k, v in perplexities(*(sum(parts[k]) for k in PERPLEXITY_PARTS)).items()}
        return self.make_score(metrics, len(docs), {m: None for m in metrics}, parts)

