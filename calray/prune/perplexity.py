"""Token-mean perplexity over non-overlapping windows: the quick look at what pruning cost.

The capability evaluation (calray.evaluate) measures much more; this is the check a user
runs right after ``calray prune``, the way SparseGPT and Wanda report WikiText perplexity:
exp of the mean next-token NLL over *all* tokens. (A calibration set's information metric,
``calray.data.window_mean_perplexity``, averages exp(mean NLL) *per window* instead.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from calray.errors import CalrayError


@torch.no_grad()
def token_perplexity(
    model: nn.Module,
    tokens: torch.Tensor,
    *,
    seqlen: int,
    batch_size: int = 4,
    device: torch.device | str | None = None,
) -> tuple[float, int]:
    """``(exp(mean next-token NLL), windows)`` over the ``len(tokens) // seqlen`` windows of 1-D ``tokens``."""
    windows = tokens.numel() // seqlen
    if windows == 0:
        raise CalrayError(
            f"the text has {tokens.numel()} tokens, fewer than one window of {seqlen}; "
            "give more text or a lower --seqlen"
        )
    device = torch.device(device) if device is not None else next(model.parameters()).device
    ids = tokens[: windows * seqlen].view(windows, seqlen)
    nll, count = 0.0, 0
    for start in range(0, windows, batch_size):
        batch = ids[start : start + batch_size].to(device)
        logits = model(batch, use_cache=False).logits[:, :-1].float()  # (batch, seq - 1, vocab)
        nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum").item()
        count += batch[:, 1:].numel()
    return math.exp(nll / count), windows
