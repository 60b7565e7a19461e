"""IGSP, information-guided self-calibration (the seed paper; calray's design of it).

The paper says only that IGSP "automates multi-source construction without capability-aligned
corpora by minimising 4-gram aggregation and balancing perplexity across dimensions". Each
step below is a choice made here, with its reason; every number is a knob of ``IGSPConfig``.

1. **Candidate pool** (``pool_factor`` x the set's tokens). A multi-source set needs text of
   several kinds, and a model conditioned on BOS alone writes mostly its dominant kind. So
   batch b samples under ``decodings[b mod D]`` (greedy-ish to hot, with and without
   repetition penalty: decoding changes the register and the perplexity of what is written)
   and row r of it continues ``prompts[(b x rows + r) mod P]``: short, domain-neutral
   *format-level* cues ("", "The", "1", "Q:", "def", "#", "-"), which name no capability and
   come from no corpus, but open the doors to prose, lists, numbers, dialogue and code.
   Documents shorter than ``min_tokens`` are dropped (they hold almost no n-grams).
2. **Dimensions without labels**. Each candidate's mean last hidden state under the dense
   model (L2-normalised) is clustered by k-means++ (scipy's ``kmeans2``, seeded) into
   ``dimensions`` clusters: the model's own representation groups what it treats alike,
   which is what a capability-aligned corpus would otherwise supply. Empty clusters vanish.
3. **Selection** (greedy, ``select_balanced``). Clusters are filled in turn, the least-filled
   (in tokens) first, so each latent dimension gets an equal token budget (the uniform
   multi-source mix, which the paper finds best among fixed mixtures); a cluster that runs
   out of candidates leaves its share to the others. Within the cluster, the candidate added
   is the one minimising

       J(S) = seq-rep-n(S) + balance_weight x sqrt(mean_k (m_k - c)^2)

   where seq-rep-n is the pooled n-gram aggregation of the selected documents (n-grams never
   cross documents; n = ``ngram`` = 4), m_k the mean log-perplexity of cluster k's selected
   documents (over clusters with any) and c the pool's median log-perplexity: a common level
   that every dimension is pulled towards, so perplexity is balanced across dimensions
   (its spread falls) without pushing the whole set to low- or high-perplexity text.
   Selection stops when the set holds enough tokens.

The summary keeps J, seq-rep-n and the perplexity spread (std over dimensions of the
per-dimension mean log-perplexity) of the selection and of the whole pool, and each
dimension's counts and perplexities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calray.selfcal.budget import Generated, check_batches, progress_bar, record, tokens_needed
from calray.selfcal.config import IGSPConfig
from calray.selfcal.generation import Prompt, generate_documents, score_documents


def ngram_keys(ids: Sequence[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


def seq_rep(documents: Sequence[Sequence[int]], n: int) -> float:
    """Pooled 1 - unique / total n-grams over documents (``calray.data.seq_rep_n`` for ragged rows)."""
    grams = [g for doc in documents for g in ngram_keys(doc, n)]
    return 1.0 - len(set(grams)) / len(grams) if grams else math.nan


def perplexity_spread(log_ppl: np.ndarray, labels: np.ndarray) -> float:
    """Std over dimensions of each dimension's mean log-perplexity (0 with one dimension)."""
    means = [log_ppl[labels == k].mean() for k in np.unique(labels)]
    return float(np.std(means))


def assign_dimensions(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels ``(n,)``, renumbered 0.. by first appearance, of k-means++ on unit-norm features."""
    from scipy.cluster.vq import kmeans2

    unit = features / np.linalg.norm(features, axis=1, keepdims=True).clip(min=1e-12)
    k = min(k, len(unit))
    _, labels = kmeans2(unit.astype(np.float64), k, minit="++", seed=seed)
    _, first = np.unique(labels, return_index=True)
    order = {int(labels[i]): rank for rank, i in enumerate(sorted(first))}
    return np.array([order[int(label)] for label in labels])


@dataclass
class Selection:
    indices: list[int]  # in selection order
    objective: float
    imbalance: float


def select_balanced(
    documents: Sequence[Sequence[int]], log_ppl: np.ndarray, labels: np.ndarray, *,
    budget_tokens: int, ngram: int = 4, balance_weight: float = 1.0,
) -> Selection:
    """Greedy minimisation of J (module docstring) with equal token budgets per dimension;
    stops once the selected documents (+1 token each for EOS) reach ``budget_tokens``."""
    grams = [set(ngram_keys(doc, ngram)) for doc in documents]
    counts = [max(len(doc) - ngram + 1, 0) for doc in documents]
    center = float(np.median(log_ppl))
    clusters = sorted(int(k) for k in np.unique(labels))
    left = {k: [i for i in range(len(documents)) if labels[i] == k] for k in clusters}
    tokens = dict.fromkeys(clusters, 0)
    ppl_sum = dict.fromkeys(clusters, 0.0)
    size = dict.fromkeys(clusters, 0)
    seen: set[tuple[int, ...]] = set()
    total = 0
    chosen: list[int] = []
    objective = imbalance = math.nan

    def deviation(k: int, extra: float) -> float:
        sq = [((ppl_sum[j] + extra * (j == k)) / (size[j] + (j == k)) - center) ** 2
              for j in clusters if size[j] or j == k]
        return math.sqrt(sum(sq) / len(sq))

    while sum(tokens.values()) < budget_tokens and any(left.values()):
        k = min((c for c in clusters if left[c]), key=lambda c: (tokens[c], c))
        best, best_j, best_dev = -1, math.inf, math.nan
        for i in left[k]:
            unique = len(seen) + len(grams[i] - seen)
            rep = 1.0 - unique / (total + counts[i]) if total + counts[i] else 0.0
            dev = deviation(k, float(log_ppl[i]))
            j = rep + balance_weight * dev
            if j < best_j:
                best, best_j, best_dev = i, j, dev
        left[k].remove(best)
        chosen.append(best)
        seen |= grams[best]
        total += counts[best]
        tokens[k] += len(documents[best]) + 1
        ppl_sum[k] += float(log_ppl[best])
        size[k] += 1
        objective, imbalance = best_j, best_dev
    return Selection(chosen, objective, imbalance)


def _dimension_table(log_ppl: np.ndarray, labels: np.ndarray, picked: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
    out = {}
    for k in np.unique(labels):
        pool = labels == k
        sel = pool & picked
        out[f"d{k}"] = {
            "pool_documents": int(pool.sum()), "selected_documents": int(sel.sum()),
            "selected_tokens": int(lengths[sel].sum()),
            "pool_perplexity": float(np.exp(log_ppl[pool].mean())),
            "selected_perplexity": float(np.exp(log_ppl[sel].mean())) if sel.any() else None,
        }
    return out


def _candidates(
    model: Any, tokenizer: Any, config: IGSPConfig, *, need: int, seqlen: int, seed: int, progress: bool
) -> tuple[list[list[int]], list[tuple[str, int]]]:
    """The pool: documents (prompt + continuation) and, per document, (prompt, decoding index)."""
    prompts = [Prompt(tuple(tokenizer(p, add_special_tokens=False)["input_ids"]) if p else (), p) for p in config.prompts]
    rows = config.budget.batch_size
    docs: list[list[int]] = []
    origin: list[tuple[str, int]] = []
    have = batches = 0
    with progress_bar("igsp", need, progress) as bar:
        while have < need:
            check_batches("igsp", batches, config.budget, have, need)
            which = batches % len(config.decodings)
            batch = [prompts[(batches * rows + r) % len(prompts)] for r in range(rows)]
            out = generate_documents(
                model, tokenizer, batch, config.decodings[which],
                max_new_tokens=config.budget.max_new_tokens or seqlen, seed=seed * 1_000_003 + batches,
            )
            batches += 1
            for prompt, ids in zip(batch, out, strict=True):
                doc = [*prompt.ids, *ids]
                if len(doc) >= config.min_tokens:
                    docs.append(doc)
                    origin.append((prompt.label, which))
                    have += len(doc) + 1
                    bar.update(len(doc) + 1)
    return docs, origin


def generate_igsp(
    model: Any, tokenizer: Any, config: IGSPConfig, *, nsamples: int, seqlen: int, seed: int, progress: bool = True
) -> Generated:
    need = tokens_needed(nsamples, seqlen, config.budget)
    docs, origin = _candidates(model, tokenizer, config, need=math.ceil(need * config.pool_factor), seqlen=seqlen,
                               seed=seed, progress=progress)
    log_ppl, features = score_documents(model, tokenizer, docs, batch_size=config.budget.batch_size, progress=progress)
    labels = assign_dimensions(features, config.dimensions, seed)
    selection = select_balanced(docs, log_ppl, labels, budget_tokens=need, ngram=config.ngram,
                                balance_weight=config.balance_weight)
    picked = np.zeros(len(docs), dtype=bool)
    picked[selection.indices] = True
    lengths = np.array([len(d) + 1 for d in docs])
    chosen = sorted(selection.indices)
    n = config.ngram
    summary = {
        "objective": selection.objective,
        "objective_terms": {f"seq_rep_{n}": selection.objective - config.balance_weight * selection.imbalance,
                            "perplexity_imbalance": selection.imbalance},
        f"seq_rep_{n}": {"pool": seq_rep(docs, n), "selected": seq_rep([docs[i] for i in chosen], n)},
        "perplexity_spread": {"pool": perplexity_spread(log_ppl, labels),
                              "selected": perplexity_spread(log_ppl[picked], labels[picked])},
        "center_perplexity": float(np.exp(np.median(log_ppl))),
        "pool_documents": len(docs), "selected_documents": len(chosen), "tokens": int(lengths[picked].sum()),
        "dimensions": _dimension_table(log_ppl, labels, picked, lengths),
    }
    records = [
        record(tokenizer, docs[i], dimension=f"d{labels[i]}", perplexity=float(np.exp(log_ppl[i])),
               prompt=origin[i][0], decoding=origin[i][1])
        for i in chosen
    ]
    return Generated(records, summary=summary)
