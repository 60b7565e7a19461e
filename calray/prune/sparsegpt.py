"""SparseGPT (Frantar & Alistarh, 2023): prune a linear layer and let the weights not yet
pruned absorb the error, by the Optimal Brain Surgeon update, one column at a time.

With U the upper Cholesky factor of H^-1, sweeping column i: the pruned part of column i
becomes zero, its error err = w_i / U_ii spreads to the later columns as
W[:, i:] -= err U[i, i:]. Columns are swept in blocks of ``block_size``: inside a block
every update is applied at once; the later blocks receive the block's errors in one
matrix product (the "lazy batch" update). The sweep runs on a private transposed copy, so a
column is a contiguous row and every update is one in-place BLAS call. The result equals
the plain column-by-column OBS sweep up to rounding.

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
    # Work on W^T (in, out): a column of W is then a contiguous row, and every update is an
    # in-place BLAS call (ger/gemm) on this private copy.
    WT = torch.empty((cols, rows), dtype=dtype, device=weight.device)
    WT.copy_(weight.t())
    WT[factor.dead.to(WT.device)] = 0.0
    U = factor.hinv_chol.to(device=WT.device, dtype=dtype)  # (in, in) upper

    step = block_size
    if target.n_m is not None:  # every n:m group inside one block
        step = math.ceil(block_size / target.n_m[1]) * target.n_m[1]
    _sweep(WT, U, target, block_size=step)

    pruned = torch.empty_like(weight)
    pruned.copy_(WT.t())
    # Checked after the cast: an update can overflow float16 without overflowing float32.
    require_finite(pruned, what=f"the pruned weight ({weight.dtype})", name=name)
    return pruned


def _sweep(WT: Tensor, U: Tensor, target: Target, *, block_size: int) -> None:
    """The OBS column sweep, in place on ``WT`` (in, out): rank-1 updates inside each block,
    one matrix product from each block to all later columns."""
    cols, rows = WT.shape
    d2 = U.diagonal().square()  # (in,) U_ii^2 = [H_F^-1]_ii, the OBS saliency denominator
    inv_d = U.diagonal().reciprocal()  # (in,)
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1 = WT[i1:i2]  # (B, out) view, updated in place
        U1 = U[i1:i2, i1:i2]  # (B, B) upper
        Err1 = torch.empty_like(W1)  # (B, out) the block's errors w_pruned / U_ii
        if target.n_m is None:
            k = target.zeros_for(rows * i2) - target.zeros_for(rows * i1)
            # Ranked in (out, in) order so ties break as in the other solvers.
            mask1 = lowest_k((W1.square() / d2[i1:i2, None]).t(), k).t()  # (B, out)
        else:
            mask1 = torch.empty_like(W1, dtype=torch.bool)  # filled group by group
        for j in range(i2 - i1):
            if target.n_m is not None and j % target.n_m[1] == 0:
                n, m = target.n_m
                scores = W1[j : j + m].square() / d2[i1 + j : i1 + j + m, None]  # (m, out)
                mask1[j : j + m] = n_of_m(scores.t(), n, m).t()
            err = torch.mul(W1[j], mask1[j], out=Err1[j]).mul_(inv_d[i1 + j])  # (out,)
            W1[j + 1 :].addr_(U1[j, j + 1 :], err, alpha=-1)
            W1[j].masked_fill_(mask1[j], 0.0)
        WT[i2:].addmm_(U[i1:i2, i2:].t(), Err1, alpha=-1)
