"""Self-Cal (Williams, Chrysostomou & Aletras, NAACL 2025, arXiv 2410.17170).

The model writes its own calibration text conditioned only on BOS; the first token may be
restricted to English stop words; the temperature follows t_i = t_init + (i/n)(t_final -
t_init) for the first n tokens, then t_final (the paper's main setting: t = 1 throughout).
Generations are concatenated (EOS between them) into seqlen windows: the source reads the
documents ``packed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calray.selfcal.budget import Generated, check_batches, progress_bar, record, tokens_needed
from calray.selfcal.config import SelfCalConfig
from calray.selfcal.generation import Prompt, generate_documents


def stopword_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """First token of each stop word, lower-case and capitalised, with and without a leading space."""
    ids = set()
    for word in words:
        for form in (word, word.capitalize(), " " + word, " " + word.capitalize()):
            tokens = tokenizer(form, add_special_tokens=False)["input_ids"]
            if tokens:
                ids.add(int(tokens[0]))
    return sorted(ids)


def generate_selfcal(
    model: Any, tokenizer: Any, config: SelfCalConfig, *, nsamples: int, seqlen: int, seed: int, progress: bool = True
) -> Generated:
    need = tokens_needed(nsamples, seqlen, config.budget)
    first = stopword_ids(tokenizer, config.stop_words) if config.stopword_start else None
    records: list[dict[str, Any]] = []
    have = batches = 0
    with progress_bar("selfcal", need, progress) as bar:
        while have < need:
            check_batches("selfcal", batches, config.budget, have, need)
            rows = generate_documents(
                model, tokenizer, [Prompt()] * config.budget.batch_size, config.decoding,
                max_new_tokens=config.budget.max_new_tokens or seqlen, seed=seed * 1_000_003 + batches, first_tokens=first,
            )
            batches += 1
            for ids in filter(None, rows):
                records.append(record(tokenizer, ids))
                have += len(ids) + 1
                bar.update(len(ids) + 1)
    return Generated(records, summary={"documents": len(records), "tokens": have, "batches": batches})
