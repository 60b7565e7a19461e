"""The toy world's multiple-choice tasks score the same whether each item's context runs once
(its KV cache copied per choice) or once per choice: per request, and in the task metrics."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import calray.toy
from calray.evaluate import HFModel, LoglikelihoodResult, get_task

MULTIPLE_CHOICE = [t.name for t in calray.toy.TASKS if t.kind == "multiple_choice"]


class Recording(HFModel):
    """Keeps every log-likelihood result, and counts the contexts run once for several choices."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.results: list[LoglikelihoodResult] = []
        self.shared_contexts = 0

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        out = super().loglikelihood(requests)
        self.results += out
        return out

    def _score_prefixed(self, batch):  # type: ignore[no-untyped-def]
        self.shared_contexts += len(batch.prefixes)
        return super()._score_prefixed(batch)


@pytest.fixture(scope="module")
def toy_model() -> HFModel:
    return HFModel.from_pretrained(calray.toy.MODEL_DIR, progress=False)


@pytest.mark.parametrize("name", MULTIPLE_CHOICE)
def test_toy_multiple_choice_scores_are_those_of_the_plain_path(toy_model: HFModel, name: str) -> None:
    task = get_task(name)
    runs = {}
    for share in (False, True):
        lm = Recording(toy_model.model, toy_model.tokenizer, batch_size=16, progress=False, share_prefixes=share)
        runs[share] = (task.evaluate(lm, limit=48), lm)
    (plain, plain_lm), (shared, shared_lm) = runs[False], runs[True]
    # items whose choices are one token each feed one input and stay on the plain path
    assert plain_lm.shared_contexts == 0 and 0 < shared_lm.shared_contexts <= 48
    assert shared.metrics == plain.metrics
    for a, b in zip(shared_lm.results, plain_lm.results, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
    assert plain.metrics["acc"] > plain.chance["acc"]  # the trained model knows answers: the comparison is not vacuous
