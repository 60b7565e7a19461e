"""SGS, self-generating then sampling (Ji et al., "Beware of Calibration Data for Pruning Large
Language Models", arXiv 2410.17711).

Short prefixes of a seed corpus (Wikipedia in the paper: ``seed_source``, any calray source)
are continued by the model (T = 0.6, top-p 0.95, top-k 50, repetition penalty 1.2, up to
seqlen new tokens); each sample (prefix + continuation) is scored by its perplexity under
the same model and the ``drop_fraction`` (20%) highest are dropped; the rest are joined and
the source takes seqlen windows at random offsets (``random-window`` over one text).
Generation continues until the kept samples hold enough tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from calray.data.loading import load_documents
from calray.data.sources import get_source
from calray.data.tokenizer import encode
from calray.errors import CalrayError
from calray.selfcal.budget import Generated, check_batches, progress_bar, record, tokens_needed
from calray.selfcal.config import SGSConfig
from calray.selfcal.generation import Prompt, generate_documents, score_documents


def drop_highest(values: np.ndarray, fraction: float) -> np.ndarray:
    """Indices (ascending) of ``values`` without the round(fraction x n) largest: SGS's perplexity filter."""
    drop = int(fraction * len(values) + 0.5)
    order = np.argsort(values, kind="stable")
    return np.sort(order[: len(values) - drop])


def seed_prefixes(tokenizer: Any, source: str, prefix_tokens: int, seed: int) -> Iterator[Prompt]:
    """The first ``prefix_tokens`` tokens of the seed corpus's documents, in a seeded random order
    (documents shorter than a prefix plus one token are skipped)."""
    docs = load_documents(get_source(source))
    order = np.random.default_rng(seed).permutation(len(docs))
    for start in range(0, len(order), 64):
        batch = order[start : start + 64].tolist()
        for index, ids in zip(batch, encode(tokenizer, docs.texts(batch)), strict=True):
            if len(ids) > prefix_tokens:
                yield Prompt(tuple(int(t) for t in ids[:prefix_tokens]), label=f"{source}#{index}")


def generate_sgs(
    model: Any, tokenizer: Any, config: SGSConfig, *, nsamples: int, seqlen: int, seed: int, progress: bool = True
) -> Generated:
    need = tokens_needed(nsamples, seqlen, config.budget)
    prefixes = seed_prefixes(tokenizer, config.seed_source, config.prefix_tokens, seed)
    samples: list[list[int]] = []
    labels: list[str] = []
    log_ppl = np.zeros(0)
    kept = np.zeros(0, dtype=np.int64)
    lengths = np.zeros(0, dtype=np.int64)
    batches = 0
    with progress_bar("sgs", need, progress) as bar:
        while int(lengths[kept].sum()) < need:
            check_batches("sgs", batches, config.budget, int(lengths[kept].sum()), need)
            prompts = [p for _, p in zip(range(config.budget.batch_size), prefixes, strict=False)]
            if not prompts:
                raise CalrayError(
                    f"sgs: seed corpus {config.seed_source!r} ran out of documents longer than {config.prefix_tokens} "
                    f"tokens after {len(samples)} samples ({int(lengths[kept].sum())} of {need} tokens kept); "
                    "give a larger seed_source or a shorter prefix_tokens"
                )
            rows = generate_documents(
                model, tokenizer, prompts, config.decoding,
                max_new_tokens=config.budget.max_new_tokens or seqlen, seed=seed * 1_000_003 + batches,
            )
            batches += 1
            new = [[*p.ids, *ids] for p, ids in zip(prompts, rows, strict=True)]
            samples += new
            labels += [p.label for p in prompts]
            log_ppl = np.concatenate([log_ppl, score_documents(model, tokenizer, new)[0]])
            lengths = np.array([len(s) + 1 for s in samples])  # + the separator between samples
            kept = drop_highest(log_ppl, config.drop_fraction)
            bar.n = min(int(lengths[kept].sum()), need)
            bar.refresh()
    threshold = float(np.exp(log_ppl[kept].max()))
    records = [record(tokenizer, samples[i], perplexity=float(np.exp(log_ppl[i])), prompt=labels[i]) for i in kept]
    summary = {
        "samples": len(samples), "kept": len(kept), "dropped": len(samples) - len(kept), "batches": batches,
        "perplexity_threshold": threshold, "tokens": int(lengths[kept].sum()),
    }
    return Generated(records, sampling="random-window", join_with="\n\n", summary=summary)
