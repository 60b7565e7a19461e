"""Log-likelihood requests that share a context: the context runs once, its KV cache serves every continuation.

A multiple-choice item asks for log P(choice | context) for each of its choices, and the
context (few-shot examples and the question stem) is usually far longer than any choice. The
plain path feeds ``context + choice`` once per choice; here a batch of contexts runs once
(``prefixes``), each context's KV cache is copied to one row per distinct continuation, and
only the continuations' tokens run through the model (``suffixes``). The context's last
position predicts every continuation's first token; a suffix row predicts the rest.

This module plans the batches and turns the two passes' logits into results; a model class
(``HFModel``) runs the passes (``TokenLM._score_prefixed``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from calray.evaluate.interface import LoglikelihoodResult

TokenRequest = tuple[list[int], list[int]]  # (context tokens, continuation tokens)


@dataclass(frozen=True)
class ContextGroup:
    """Requests (indices) with the same context tokens ``prefix``."""

    prefix: tuple[int, ...]
    members: tuple[int, ...]


def group_by_context(requests: Sequence[TokenRequest], max_length: int) -> tuple[list[ContextGroup], list[int]]:
    """Contexts worth running once, and the requests left to the plain path: a context pays
    when its requests feed at least two distinct inputs to the model (MMLU-like one-token
    answers all feed the context alone, which the plain path already runs once) and none of
    them is truncated to fit ``max_length``."""
    by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
    rest = []
    for i, (ctx, cont) in enumerate(requests):
        if len(ctx) + len(cont) - 1 > max_length:
            rest.append(i)
        else:
            by_context[tuple(ctx)].append(i)
    groups = []
    for prefix, members in by_context.items():
        if len({tuple(requests[i][1][:-1]) for i in members}) > 1:
            groups.append(ContextGroup(prefix, tuple(members)))
        else:
            rest += members
    return groups, sorted(rest)


@dataclass(frozen=True)
class PrefixBatch:
    """One batch of the shared path: ``prefixes`` (one row each) and ``suffixes`` (prefix row,
    the continuation tokens fed after it: all but the last; distinct and non-empty).
    ``queries[k]`` = (prefix row, suffix row or None for a one-token continuation,
    continuation) answers request ``owners[k]``."""

    prefixes: list[tuple[int, ...]]
    suffixes: list[tuple[int, tuple[int, ...]]]
    queries: list[tuple[int, int | None, list[int]]]
    owners: list[int]

    @classmethod
    def of(cls, groups: Sequence[ContextGroup], requests: Sequence[TokenRequest]) -> PrefixBatch:
        suffixes: list[tuple[int, tuple[int, ...]]] = []
        queries: list[tuple[int, int | None, list[int]]] = []
        owners: list[int] = []
        for row, group in enumerate(groups):
            rows: dict[tuple[int, ...], int] = {}
            for i in group.members:
                cont = requests[i][1]
                fed = tuple(cont[:-1])
                if fed and fed not in rows:
                    rows[fed] = len(suffixes)
                    suffixes.append((row, fed))
                queries.append((row, rows[fed] if fed else None, cont))
                owners.append(i)
        return cls([g.prefix for g in groups], suffixes, queries, owners)



def max_copies(groups: Sequence[ContextGroup], requests: Sequence[TokenRequest]) -> int:
    """The most rows one context's KV cache is copied to (its distinct continuation inputs)."""
    return max((len({tuple(requests[i][1][:-1]) for i in g.members}) for g in groups), default=1)


def span_result(logits: torch.Tensor, continuation: Sequence[int]) -> LoglikelihoodResult:
    """Log-probability and greedy flag of ``continuation`` under the (C, V) logits predicting its tokens."""
    span = logits.float().log_softmax(-1)
    target = torch.tensor(list(continuation), device=span.device)
    lp = span.gather(-1, target[:, None]).sum().item()
    return LoglikelihoodResult(float(lp), bool((span.argmax(-1) == target).all()))


def score_prefixed(last: torch.Tensor, suffix_logits: torch.Tensor | None, batch: PrefixBatch) -> list[LoglikelihoodResult]:
    """Results of ``batch.queries`` from each prefix's last-position logits ``last`` (G, V) and
    the suffix rows' logits (R, C, V), None when every continuation is one token."""
    out = []
    for row, suffix, cont in batch.queries:
        span = last[row : row + 1]
        if suffix is not None:
            assert suffix_logits is not None
            span = torch.cat([span, suffix_logits[suffix, : len(cont) - 1].to(span.device)])
        out.append(span_result(span, cont))
    return out
