"""The small model interface every evaluation goes through (lm-eval-harness's ``LM`` shape).

Tasks never call ``model.forward``: they hand batches of requests to an ``EvalModel``. The
in-process implementation is ``HFModel``; the distributed engine implements the same three
methods over shard actors; ``calray.evaluate.fake.FakeLM`` (which calray itself never imports)
serves fast tests. Every method takes the whole list of requests at once, so an
implementation is free to sort, batch and deduplicate them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationArgs:
    """Greedy decoding settings of one request: stop at the first of ``until`` or after
    ``max_new_tokens`` tokens; the returned text excludes the stop string."""

    until: tuple[str, ...] = ()
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "until", tuple(self.until))
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


class LoglikelihoodResult(NamedTuple):
    """Sum of log-probabilities of the continuation's tokens, and whether greedy decoding
    would have produced exactly those tokens."""

    logprob: float
    is_greedy: bool


class RollingResult(NamedTuple):
    """Log-probability of a whole text (every token predicted once) and how many tokens it had."""

    logprob: float
    tokens: int


@runtime_checkable
class EvalModel(Protocol):
    """What a model must implement to be evaluated (batched over requests, order preserved)."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        """log P(continuation | context) for each ``(context, continuation)``."""
        ...

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingResult]:
        """log P(text) for each text, scored in rolling windows when longer than the context."""
        ...

    def generate_until(self, requests: Sequence[tuple[str, GenerationArgs]]) -> list[str]:
        """Greedy continuation of each context, cut before the first stop string."""
        ...


def cut_at_stop(text: str, until: Sequence[str]) -> str:
    """``text`` up to (not including) the earliest occurrence of any stop string."""
    end = len(text)
    for stop in until:
        if stop:
            i = text.find(stop)
            if i != -1:
                end = min(end, i)
    return text[:end]

