"""A deterministic ``EvalModel`` without weights, for fast tests of tasks and retention.

Scores come from caller-supplied functions, or from a stable hash of the request, so the same
request always gets the same answer and different requests get different ones. ``calls``
counts how many times each method was called (one call per task means requests were batched).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence

from calray.evaluate.interface import GenerationArgs, LoglikelihoodResult, RollingResult, cut_at_stop


def _unit(*parts: str) -> float:
    """A stable pseudo-random number in [0, 1) from strings."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FakeLM:
    """``FakeLM(loglikelihood=lambda ctx, cont: ..., generate=lambda ctx, args: ...)``.

    Defaults: log-likelihood = -(1 + 4u) per continuation character (u from a hash),
    rolling log-likelihood = -2 per UTF-8 byte with one token per byte, generation = "".
    """

    def __init__(
        self,
        *,
        loglikelihood: Callable[[str, str], float] | None = None,
        rolling: Callable[[str], float] | None = None,
        generate: Callable[[str, GenerationArgs], str] | None = None,
    ) -> None:
        self._ll = loglikelihood or (lambda ctx, cont: -(1.0 + 4.0 * _unit(ctx, cont)) * max(len(cont), 1))
        self._rolling = rolling or (lambda text: -2.0 * len(text.encode()))
        self._generate = generate or (lambda ctx, args: "")
        self.calls: Counter[str] = Counter()

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        self.calls["loglikelihood"] += 1
        return [LoglikelihoodResult(float(self._ll(ctx, cont)), False) for ctx, cont in requests]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[RollingResult]:
        self.calls["loglikelihood_rolling"] += 1
        return [RollingResult(float(self._rolling(t)), len(t.encode())) for t in texts]

    def generate_until(self, requests: Sequence[tuple[str, GenerationArgs]]) -> list[str]:
        self.calls["generate_until"] += 1
        return [cut_at_stop(self._generate(ctx, args), args.until) for ctx, args in requests]
