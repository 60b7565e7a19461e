"""Which weights to prune, given scores (low score = pruned first).

Every rule is exact and deterministic: it selects exactly the requested count, and equal
scores are broken by position (lower index first) through a stable sort, never by whatever
order a partial sort happens to return.
"""

from __future__ import annotations

import torch
from torch import Tensor

from calray.prune.target import Target


def lowest_k(scores: Tensor, k: int, *, sync_free: bool | None = None) -> Tensor:
    """Bool mask of the ``k`` lowest entries of ``scores`` (any shape, ranked as one).

    On the CPU, linear time: everything below the k-th smallest value, then as many entries
    equal to it as still needed, lowest index first (what a stable sort would pick). On an
    accelerator (``sync_free`` None: any non-CPU device) the stable sort itself, which asks the
    host nothing: counting the ties would stall the device queue once per call. Both give the
    same mask.
    """
    flat = scores.reshape(-1)
    if k <= 0:
        return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    if k >= flat.numel():
        return torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    if sync_free if sync_free is not None else scores.device.type != "cpu":
        order = torch.sort(flat, stable=True).indices[:k]
        return torch.zeros_like(flat, dtype=torch.bool).index_fill_(0, order, True).view(scores.shape)
    kth = flat.kthvalue(k).values
    mask = flat < kth
    missing = k - int(mask.sum())
    if missing:
        mask[(flat == kth).nonzero().flatten()[:missing]] = True
    return mask.view(scores.shape)


def lowest_k_per_row(scores: Tensor, k: Tensor) -> Tensor:
    """Bool mask of the ``k[r]`` lowest entries of each row ``r`` of ``scores`` (rows, cols)."""
    order = torch.argsort(scores, dim=1, stable=True)  # (rows, cols)
    cols = scores.shape[1]
    rank_selected = torch.arange(cols, device=scores.device)[None, :] < k[:, None]  # (rows, cols)
    return torch.zeros_like(rank_selected).scatter_(1, order, rank_selected)


def n_of_m(scores: Tensor, n: int, m: int) -> Tensor:
    """Bool mask with the ``n`` lowest of every ``m`` consecutive columns of each row.

    ``scores`` is (rows, cols) with ``cols`` a multiple of ``m``.
    """
    rows, cols = scores.shape
    groups = scores.reshape(rows, cols // m, m)
    order = torch.argsort(groups, dim=2, stable=True)[..., :n]  # (rows, groups, n)
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(2, order, True)
    return mask.view(rows, cols)


def per_row_counts(target: Target, rows: int, cols: int, *, device: torch.device) -> Tensor:
    """Zeros per row so that every row loses floor or ceil of ``sparsity * cols`` and the
    layer's total is exactly ``target.zeros_for(rows * cols)``."""
    cumulative = torch.tensor(
        [target.zeros_for(r * cols) for r in range(rows + 1)], dtype=torch.long, device=device
    )
    return cumulative[1:] - cumulative[:-1]


def select(scores: Tensor, target: Target, *, per_row: bool) -> Tensor:
    """Mask of the weights to prune for ``target``: n:m per group, else exact per layer
    (``per_row=False``) or exact per output row with the layer total still exact."""
    rows, cols = scores.shape
    if target.n_m is not None:
        return n_of_m(scores, *target.n_m)
    if per_row:
        return lowest_k_per_row(scores, per_row_counts(target, rows, cols, device=scores.device))
    return lowest_k(scores, target.zeros_for(rows * cols))
