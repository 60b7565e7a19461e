"""Information metrics of a calibration set (the study's definitions, after Self-Cal's), token-level.

All are computed over the whole set D of |D| windows of L tokens: counts are pooled over
the set, and n-grams never cross from one window into the next. Pooling is what makes
them describe the *set* (128 copies of one window have a low n-gram diversity), and it
matches the magnitudes Self-Cal reports for C4 (diversity 0.62, coverage 0.18).

- perplexity: exp(mean next-token NLL of a window under the model), averaged over windows;
- repetition R = 1/(|D| L) sum over windows and positions of 1[w_i in w_1..w_{i-1}]
  (earlier positions of the same window);
- seq-rep-n = 1 - |unique n-grams| / |n-grams|; seq-rep-4 is the "4-gram aggregation";
- n-gram diversity = mean over n = 1..4 of |unique n-grams| / |n-grams|;
- vocabulary coverage = distinct token ids / vocabulary size;
- unigram entropy = -sum_v p(v) ln p(v), in nats;
- type-token ratio = distinct tokens / tokens;
- Zipf coefficient = -slope of the least-squares line of ln frequency vs ln rank over the
  distinct tokens (scipy.stats.linregress), reported positive (about 1 for natural text);
- gzip ratio = UTF-8 bytes / gzip bytes (level 9) of the decoded windows joined by "\\n";
  higher means more redundant text.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

IdsLike = Any  # (n, L) torch.Tensor or numpy array of token ids

# Which information metrics a job or a sweep reports for its calibration set: none, the
# token-level ones, or also the perplexity under the dense model (a forward pass of the windows).
MetricsLevel = Literal["none", "tokens", "all"]


def _as_numpy(input_ids: IdsLike) -> np.ndarray:
    ids = input_ids.cpu().numpy() if isinstance(input_ids, torch.Tensor) else np.asarray(input_ids)
    if ids.ndim != 2:
        raise ValueError(f"expected (sequences, tokens) ids, got shape {ids.shape}")
    return ids.astype(np.int64, copy=False)


def _ngram_counts(ids: np.ndarray, n: int) -> tuple[int, int]:
    """(unique, total) n-grams inside the rows of ``ids``."""
    if ids.shape[1] < n:
        return 0, 0
    grams = np.lib.stride_tricks.sliding_window_view(ids, n, axis=1).reshape(-1, n)  # (rows*(L-n+1), n)
    packed = np.ascontiguousarray(grams).view(np.dtype((np.void, grams.dtype.itemsize * n))).ravel()
    return len(np.unique(packed)), len(packed)


def seq_rep_n(input_ids: IdsLike, n: int) -> float:
    """1 - unique / total n-grams, pooled over the set."""
    unique, total = _ngram_counts(_as_numpy(input_ids), n)
    return 1.0 - unique / total if total else math.nan


def ngram_diversity(input_ids: IdsLike, max_n: int = 4) -> float:
    """Mean over n = 1..max_n of unique / total n-grams."""
    ids = _as_numpy(input_ids)
    ratios = [u / t for u, t in (_ngram_counts(ids, n) for n in range(1, max_n + 1)) if t]
    return float(np.mean(ratios)) if ratios else math.nan


def repetition(input_ids: IdsLike) -> float:
    """Share of positions whose token already occurred earlier in the same window."""
    ids = _as_numpy(input_ids)
    repeats = sum(len(row) - len(np.unique(row)) for row in ids)
    return repeats / ids.size


def _token_counts(input_ids: IdsLike) -> np.ndarray:
    _, counts = np.unique(_as_numpy(input_ids), return_counts=True)
    return counts


def vocab_coverage(input_ids: IdsLike, vocab_size: int) -> float:
    return len(_token_counts(input_ids)) / vocab_size


def type_token_ratio(input_ids: IdsLike) -> float:
    counts = _token_counts(input_ids)
    return float(len(counts) / counts.sum())


def unigram_entropy(input_ids: IdsLike) -> float:
    """Entropy of the token distribution, in nats."""
    counts = _token_counts(input_ids)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def zipf_coefficient(input_ids: IdsLike) -> float:
    """Minus the slope of ln(frequency) against ln(rank); NaN with fewer than 2 distinct tokens."""
    counts = np.sort(_token_counts(input_ids))[::-1]
    if len(counts) < 2:
        return math.nan
    from scipy import stats  # scipy.stats takes a second to import; only this metric needs it

    ranks = np.arange(1, len(counts) + 1)
    return float(-stats.linregress(np.log(ranks), np.log(counts)).slope)


def gzip_ratio(texts: Sequence[str]) -> float:
    """Raw UTF-8 bytes over gzip-compressed bytes of the texts joined by newlines."""
    raw = "\n".join(texts).encode()
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))


@torch.no_grad()
def window_mean_perplexity(model: torch.nn.Module, input_ids: IdsLike, *, batch_size: int = 8, progress: bool = True) -> float:
    """Mean over windows of exp(mean next-token NLL), under ``model`` on its own device (the
    information metric; ``calray.prune.token_perplexity`` is the token-mean of a text)."""
    ids = torch.as_tensor(_as_numpy(input_ids))
    device = next(model.parameters()).device
    per_window: list[torch.Tensor] = []
    for start in tqdm(range(0, len(ids), batch_size), desc="perplexity", disable=not progress, unit="batch"):
        batch = ids[start : start + batch_size].to(device)  # (b, L)
        logits = model(input_ids=batch, use_cache=False).logits[:, :-1].float()  # (b, L-1, V)
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")  # (b, L-1)
        per_window.append(nll.mean(dim=1).cpu())
    return float(torch.exp(torch.cat(per_window)).mean())


def information_metrics(
    input_ids: IdsLike,
    *,
    tokenizer: Any = None,
    model: torch.nn.Module | None = None,
    vocab_size: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, float]:
    """Every metric of this module that the given objects allow, by name.

    Perplexity needs ``model``; gzip ratio needs ``tokenizer`` (to decode); coverage needs
    ``vocab_size`` (default: ``len(tokenizer)``).
    """
    out: dict[str, float] = {}
    if model is not None:
        out["perplexity"] = window_mean_perplexity(model, input_ids, batch_size=batch_size, progress=progress)
    out["repetition"] = repetition(input_ids)
    for n in range(1, 5):
        out[f"seq_rep_{n}"] = seq_rep_n(input_ids, n)
    out["ngram_diversity"] = ngram_diversity(input_ids)
    vocab_size = vocab_size or (len(tokenizer) if tokenizer is not None else None)
    if vocab_size:
        out["vocab_coverage"] = vocab_coverage(input_ids, vocab_size)
    out["unigram_entropy"] = unigram_entropy(input_ids)
    out["type_token_ratio"] = type_token_ratio(input_ids)
    out["zipf_coefficient"] = zipf_coefficient(input_ids)
    if tokenizer is not None:
        texts = tokenizer.batch_decode(_as_numpy(input_ids).tolist(), skip_special_tokens=True)
        out["gzip_ratio"] = gzip_ratio(texts)
    return out
