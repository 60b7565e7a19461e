"""A task's metric from what each of its items contributed, on all items or on resamples.

Evaluation (``calray.evaluate``) keeps per-item values so that analyses (``calray.analysis``,
which must not import torch) can put intervals on every number; both read them through this
module, which needs numpy only. A *mean* metric (accuracy, exact match, pass@1) is kept as one
value per item under the metric's name; a corpus perplexity is a ratio of sums over documents,
so each document keeps its ``PERPLEXITY_PARTS`` and the metric is recomputed from their sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PERPLEXITY_PARTS = ("nll", "words", "bytes", "tokens")


def perplexities(nll: Any, words: Any, nbytes: Any, tokens: Any) -> dict[str, Any]:
    """Every corpus metric from summed parts (floats, or numpy arrays of resampled sums)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # a broken model's perplexity is inf
        return {
            "word_perplexity": np.exp(nll / words),
            "byte_perplexity": np.exp(nll / nbytes),
            "bits_per_byte": nll / nbytes / math.log(2),
            "token_perplexity": np.exp(nll / tokens),
        }


def mean_stderr(values: Sequence[float]) -> float | None:
    """lm-eval's ``mean_stderr``: sample standard deviation / sqrt(n) (None below two items)."""
    n = len(values)
    if n < 2:
        return None
    return float(np.std(np.asarray(values, dtype=float), ddof=1) / math.sqrt(n))


def item_count(items: Mapping[str, Sequence[float]]) -> int:
    return len(next(iter(items.values()))) if items else 0


def metric_values(items: Mapping[str, np.ndarray], metric: str, index: np.ndarray | None = None) -> np.ndarray:
    """``metric`` over the items picked by ``index`` (integer array, last axis = a resample of
    item positions; None: every item once), one value per resample."""
    if metric in items:
        values = np.asarray(items[metric], dtype=float)
        return values.mean(axis=-1) if index is None else values[index].mean(axis=-1)
    if not all(p in items for p in PERPLEXITY_PARTS):
        raise KeyError(f"no per-item values for metric {metric!r} (kept: {sorted(items)})")
    sums = [np.asarray(items[p], dtype=float) for p in PERPLEXITY_PARTS]
    sums = [s.sum(axis=-1) if index is None else s[index].sum(axis=-1) for s in sums]
    return np.asarray(perplexities(*sums)[metric], dtype=float)
