"""Information metrics of a job's calibration set, computed in the pool where the windows are.

The set described is the one a sequential job prunes on: each source's first ``count_s``
windows for the mixture's allocation of ``nsamples`` (in independent mode too, where the
statistics come from ``nsamples`` windows per source but the mixture's *content* is the same
allocation). Token-level metrics (``calray.data.information_metrics``) cost a few numpy
passes. Perplexity under the dense model is a forward pass of the windows through a
pipeline; since window k of a source is the same in every mixture, each window's perplexity
is kept (by row key), so across a sweep every window is scored once.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

from calray.data import information_metrics

PerWindow = Callable[[torch.Tensor], list[float]]  # (n, L) token ids -> perplexity per window


class CalibrationMetrics:
    """Per-window perplexities remembered across jobs (up to ``keep`` windows)."""

    def __init__(self, tokenizer: Any, *, vocab_size: int, keep: int = 1 << 20) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.keep = keep
        self._perplexity: dict[str, float] = {}
        self._lock = threading.Lock()

    def compute(self, ids: torch.Tensor, keys: Sequence[str] | None, *, perplexity: PerWindow | None) -> dict[str, float]:
        """Token-level metrics of ``ids`` (n, L), and their dense perplexity when ``perplexity``
        is given (only rows whose key has not been scored yet go through the model)."""
        out = information_metrics(ids, tokenizer=self.tokenizer, vocab_size=self.vocab_size, progress=False)
        if perplexity is not None:
            out["perplexity"] = self._mean_perplexity(ids, keys, perplexity)
        return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(v)}

    def _mean_perplexity(self, ids: torch.Tensor, keys: Sequence[str] | None, perplexity: PerWindow) -> float:
        if keys is None:
            return sum(perplexity(ids)) / len(ids)
        with self._lock:
            todo = [i for i, k in enumerate(keys) if k not in self._perplexity]
        if todo:
            values = perplexity(ids[todo])
            with self._lock:
                if len(self._perplexity) + len(todo) > self.keep:
                    self._perplexity.clear()
                self._perplexity.update({keys[i]: v for i, v in zip(todo, values, strict=True)})
        with self._lock:
            return sum(self._perplexity[k] for k in keys) / len(keys)


def window_perplexities(lm: Any, ids: torch.Tensor) -> list[float]:
    """exp(mean next-token NLL) of each window (calray.data's definition), scored by a
    ``TokenLM``: each window is one request, its first token the context."""
    rows = ids.tolist()
    results = lm.score_tokens([(row[:1], row[1:]) for row in rows], desc="calibration perplexity")
    return [math.exp(-r.logprob / (len(row) - 1)) for r, row in zip(results, rows, strict=True)]
