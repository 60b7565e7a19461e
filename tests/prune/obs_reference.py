"""A deliberately naive float64 Optimal Brain Surgeon sweep to check SparseGPT against.

Column by column, no lazy batching and no Cholesky trick: at column i the explicit inverse
of the (damped) Hessian restricted to the columns not yet processed gives both the
saliency denominator [H_F^-1]_ii and the update of every remaining column at once.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from calray.prune import Target


def obs_prune(weight: Tensor, hessian: Tensor, target: Target, *, block_size: int, percdamp: float) -> Tensor:
    W = weight.to(torch.float64, copy=True)  # (out, in)
    H = hessian.to(torch.float64, copy=True)  # (in, in)
    rows, cols = W.shape
    dead = H.diagonal() == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += percdamp * H.diagonal().mean() * torch.eye(cols, dtype=torch.float64)

    def inv_remaining(i: int) -> Tensor:  # (cols - i, cols - i)
        return torch.linalg.inv(H[i:, i:])

    saliency_den = torch.tensor([inv_remaining(j)[0, 0] for j in range(cols)], dtype=torch.float64)
    mask = torch.zeros_like(W, dtype=torch.bool)
    step = block_size if target.n_m is None else math.ceil(block_size / target.n_m[1]) * target.n_m[1]
    for i in range(cols):
        if target.n_m is None and i % step == 0:
            end = min(i + step, cols)
            k = target.zeros_for(rows * end) - target.zeros_for(rows * i)
            scores = W[:, i:end] ** 2 / saliency_den[i:end]
            chosen = torch.argsort(scores.reshape(-1), stable=True)[:k]
            block = torch.zeros(scores.numel(), dtype=torch.bool)
            block[chosen] = True
            mask[:, i:end] = block.view(scores.shape)
        if target.n_m is not None and i % target.n_m[1] == 0:
            n, m = target.n_m
            scores = W[:, i : i + m] ** 2 / saliency_den[i : i + m]
            lowest = torch.argsort(scores, dim=1, stable=True)[:, :n]
            mask[:, i : i + m] = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, lowest, True)
        Hinv = inv_remaining(i)
        err = torch.where(mask[:, i], W[:, i], 0.0) / Hinv[0, 0]  # (out,)
        W[:, i:] -= err[:, None] * Hinv[0][None, :]
        W[:, i][mask[:, i]] = 0.0
    return W
