"""What a generator hands back, and the token budget it writes to."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from calray.data.sources import SamplingMethod
from calray.errors import CalrayError
from calray.selfcal.config import Budget


@dataclass
class Generated:
    """Documents (records with ``text``) and how a source reads them: packed (EOS between
    documents, Self-Cal and IGSP) or joined into one text sampled at random offsets (SGS);
    ``summary`` is what the method reports about itself (IGSP: its objective)."""

    records: list[dict[str, Any]]
    sampling: SamplingMethod = "packed"
    join_with: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def tokens_needed(nsamples: int, seqlen: int, budget: Budget) -> int:
    """Tokens (one EOS per document included) that fill ``nsamples`` windows, with the margin."""
    return math.ceil(nsamples * seqlen * budget.margin)


def record(tokenizer: Any, ids: Sequence[int], **extra: Any) -> dict[str, Any]:
    return {"text": tokenizer.decode(list(ids), skip_special_tokens=True), "tokens": len(ids), **extra}


def progress_bar(method: str, total: int, enabled: bool) -> Any:
    return tqdm(total=total, desc=f"{method}: generating", unit="tok", disable=not enabled)


def check_batches(method: str, batches: int, budget: Budget, have: int, need: int) -> None:
    """Stop a model that writes (almost) nothing: say how far it got and which knob to turn."""
    if batches >= budget.max_batches:
        raise CalrayError(
            f"{method}: {batches} generation batches wrote {have} of the {need} tokens needed (the model ends its "
            "documents almost at once?); raise budget.max_batches or lower nsamples / seqlen"
        )
