"""SparseGPT (Frantar & Alistarh, 2023): prune a linear layer and let the weights not yet
pruned absorb the error, by the Optimal Brain Surgeon update, one column at a time.

With U the upper Cholesky factor of H^-1, sweeping column i: the pruned part of column i
becomes zero, its error err = w_i / U_ii spreads to the later columns as
W[:, i:] -= err U[i, i:]. Columns are swept in blocks of ``block_size``: inside a block
every update is applied at once; the later blocks receive the block's errors in one
matrix product (the "lazy batch" update). The result equals the plain column-by-column
OBS sweep up to rounding.

Which weights to prune: unstructured, at each block's start, the lowest W^2 / U_ii^2 over
the whole block (all rows), on the already-updated weights, with the layer's exact count
spread over the blocks; n:m, per row, the N lowest of each group of M columns, chosen when
the sweep reaches the group.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from calray.errors import CalrayError
from calray.prune.checks import compute_dtype, require_finite, require_matrix
from calray.prune.factor import HessianFactor, factor_hessian
from calray.prune.selection import lowest_k, n_of_m
from calray.prune.target import Target


def sparsegpt(
    weight: Tensor,
    hessian: Tensor,
    sparsity: float,
    *,
    n_m: tuple[int, int] | str | None = None,
    block_size: int = 128,
    percdamp: float = 0.01,
    name: str = "layer",
) -> Tensor:
    """Prune ``weight`` (out, in) with SparseGPT given ``hessian`` (in, in) = (2/n) sum x x^T.

    ``n_m=(N, M)`` zeroes N of every M consecutive inputs of each row (``sparsity`` is then
    ignored). Returns a new tensor in ``weight``'s dtype and device; inputs are not modified.

    >>> W, X = torch.randn(4, 8), torch.randn(64, 8)
    >>> pruned = sparsegpt(W, 2 * X.T @ X / 64, 0.5)
    >>> int((pruned == 0).sum())
    16
    """
    target = Target.of(sparsity, n_m)
    _, cols = require_matrix(weight, what="weight", name=name)
    target.check_width(cols, name=name)
    require_matrix(hessian, what="Hessian", name=name)
    if hessian.shape != (cols, cols):
        raise CalrayError(
            f"layer {name!r}: Hessian shape {tuple(hessian.shape)} does not match the weight's "
            f"{cols} inputs; expected ({cols}, {cols})"
        )
    require_finite(weight, what="weight", name=name)
    factor = factor_hessian(hessian, percdamp=percdamp, name=name)
    return sparsegpt_from_factor(weight, factor, target, block_size=block_size, name=name)


def sparsegpt_from_factor(
    weight: Tensor,
    factor: HessianFactor,
    target: Target,
    *,
    block_size: int = 128,
    name: str = "layer",
) -> Tensor:
    """Prune ``weight`` (out, in) to ``target`` with an already factored Hessian.

    For n:m the block size is rounded up to a multiple of M, so every group lies in one
    block and is chosen on fully updated weights.
    """
    rows, cols = require_matrix(weight, what="weight", name=name)
    if factor.in_features != cols:
        raise CalrayError(
            f"layer {name!r}: the Hessian factor is for {factor.in_features} inputs but the "
            f"weight has {cols}"
        )
    target.check_width(cols, name=name)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise CalrayError(f"block_size must be a positive integer (typically 128), got {block_size!r}")
    require_finite(weight, what="weight", name=name)

    dtype = compute_dtype(weight, factor.hinv_chol)
    W = weight.to(dtype=dtype, copy=True)  # (out, in) private working copy
    U = factor.hinv_chol.to(device=W.device, dtype=dtype)  # (in, in) upper
    W[:, factor.dead.to(W.device)] = 0.0
    d = U.diagonal()  # (in,)

    step = block_size
    if target.n_m is not None:
        m = target.n_m[1]
        step = math.ceil(block_size / m) * m

    for i1 in range(0, cols, step):
        i2 = min(i1 + step, cols)
        W1 = W[:, i1:i2]  # (out, B) view, updated in place
        U1 = U[i1:i2, i1:i2]  # (B, B)
        if target.n_m is None:
            k = target.zeros_for(rows * i2) - target.zeros_for(rows * i1)
            mask1 = lowest_k(W1.square() / d[i1:i2].square(), k)  # (out, B)
        else:
            mask1 = torch.zeros_like(W1, dtype=torch.bool)
        Err1 = torch.empty_like(W1)  # (out, B)
        for j in range(i2 - i1):
            if target.n_m is not None and j % target.n_m[1] == 0:
                n, m = target.n_m
                g = slice(j, j + m)
                mask1[:, g] = n_of_m(W1[:, g].square() / d[i1 + j : i1 + j + m].square(), n, m)
            err = torch.where(mask1[:, j], W1[:, j], 0.0) / U1[j, j]  # (out,)
            W1[:, j + 1 :].sub_(err[:, None] * U1[j, j + 1 :][None, :])
            W1[:, j].masked_fill_(mask1[:, j], 0.0)
            Err1[:, j] = err
        W[:, i2:].sub_(Err1 @ U[i1:i2, i2:])

    pruned = W.to(dtype=weight.dtype)
    # Checked after the cast: an update can overflow float16 without overflowing float32.
    require_finite(pruned, what=f"the pruned weight ({weight.dtype})", name=name)
    return pruned
