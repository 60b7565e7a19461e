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

Linears that read one input (q/k/v, gate/up) share U, and the sweep treats every output row
alike, so ``sparsegpt_stacked`` sweeps their rows stacked (one pass, wider BLAS calls) while
choosing each linear's mask over its own rows: every linear gets exactly what pruning it
alone would give (its exact count, its own error).

Two formulations of the sweep inside a block, equal up to rounding (``formulation``):
- ``"columns"`` (the CPU's): one in-place rank-1 update per column, cheap in flops, but three
  kernels per column, which on a GPU is launch-bound (4096 columns x 3 launches a linear);
- ``"triangular"`` (accelerators'): once a group's mask is fixed (the whole block when
  unstructured, M columns for n:m), its errors solve, per output row r, the triangular
  system U_jj e_j + m_rj sum_{i<j} U_ij e_i = m_rj w_rj: one batched triangular solve and
  two matrix products per group, whatever its width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from calray.errors import CalrayError
from calray.prune.checks import compute_dtype, require_finite, require_matrix
from calray.prune.factor import HessianFactor, factor_hessian
from calray.prune.selection import lowest_k, n_of_m
from calray.prune.target import Target

Formulation = Literal["auto", "columns", "triangular"]
FORMULATIONS: tuple[Formulation, ...] = ("auto", "columns", "triangular")

# Elements of the per-row triangular systems built at once (float32: 256 MiB); larger stacks
# are solved in chunks of rows.
_SOLVE_CHUNK = 1 << 26


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
    formulation: Formulation = "auto",
) -> Tensor:
    """Prune ``weight`` (out, in) to ``target`` with an already factored Hessian.

    For n:m the block size is rounded up to a multiple of M, so every group lies in one
    block and is chosen on fully updated weights. ``formulation`` "auto" is "columns" on the
    CPU and "triangular" elsewhere (see the module docstring).
    """
    return sparsegpt_stacked([weight], factor, target, block_size=block_size, names=[name], formulation=formulation)[0]


def sparsegpt_stacked(
    weights: Sequence[Tensor],
    factor: HessianFactor,
    target: Target,
    *,
    block_size: int = 128,
    names: Sequence[str] | None = None,
    formulation: Formulation = "auto",
) -> list[Tensor]:
    """Prune linears that read the same input, each (out_k, in), in one sweep of their stacked rows.

    Each returned weight equals ``sparsegpt_from_factor`` of that weight alone up to rounding:
    the OBS updates never mix rows, and the mask is chosen per linear.

    >>> W1, W2, X = torch.randn(4, 8), torch.randn(2, 8), torch.randn(64, 8)
    >>> factor = factor_hessian(2 * X.T @ X / 64)
    >>> [int((p == 0).sum()) for p in sparsegpt_stacked([W1, W2], factor, Target(sparsity=0.5))]
    [16, 8]
    """
    names = list(names) if names is not None else [f"linear{i}" for i in range(len(weights))]
    if len(names) != len(weights) or not weights:
        raise ValueError(f"need one name per weight and at least one weight, got {len(weights)} weights, {len(names)} names")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise CalrayError(f"block_size must be a positive integer (typically 128), got {block_size!r}")
    if formulation not in FORMULATIONS:
        raise CalrayError(f"formulation must be one of {', '.join(FORMULATIONS)}, got {formulation!r}")
    cols = factor.in_features
    segments: list[tuple[int, int]] = []
    for weight, name in zip(weights, names, strict=True):
        rows, width = require_matrix(weight, what="weight", name=name)
        if width != cols:
            raise CalrayError(
                f"layer {name!r}: the Hessian factor is for {cols} inputs but the weight has {width}"
            )
        target.check_width(cols, name=name)
        require_finite(weight, what="weight", name=name)
        start = segments[-1][1] if segments else 0
        segments.append((start, start + rows))

    device = weights[0].device
    dtype = compute_dtype(*weights, factor.hinv_chol)
    # Work on W^T (in, sum of outs): a column of W is then a contiguous row, and every update
    # is an in-place BLAS call on this private copy.
    WT = torch.empty((cols, segments[-1][1]), dtype=dtype, device=device)
    for weight, (r0, r1) in zip(weights, segments, strict=True):
        WT[:, r0:r1].copy_(weight.t())
    WT[factor.dead.to(device)] = 0.0
    U = factor.hinv_chol.to(device=device, dtype=dtype)  # (in, in) upper

    step = block_size
    if target.n_m is not None:  # every n:m group inside one block
        step = math.ceil(block_size / target.n_m[1]) * target.n_m[1]
    triangular = formulation == "triangular" or (formulation == "auto" and device.type != "cpu")
    _sweep(WT, U, target, block_size=step, segments=segments, triangular=triangular)

    out = []
    for weight, (r0, r1), name in zip(weights, segments, names, strict=True):
        pruned = torch.empty_like(weight)
        pruned.copy_(WT[:, r0:r1].t())
        # Checked after the cast: an update can overflow float16 without overflowing float32.
        require_finite(pruned, what=f"the pruned weight ({weight.dtype})", name=name)
        out.append(pruned)
    return out


def _sweep(
    WT: Tensor, U: Tensor, target: Target, *, block_size: int, segments: Sequence[tuple[int, int]], triangular: bool
) -> None:
    """The OBS column sweep, in place on ``WT`` (in, out): each block swept column by column
    (or group by group, ``triangular``), then one matrix product from the block to all later columns."""
    cols = WT.shape[0]
    d2 = U.diagonal().square()  # (in,) U_ii^2 = [H_F^-1]_ii, the OBS saliency denominator
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1 = WT[i1:i2]  # (B, out) view, updated in place
        U1 = U[i1:i2, i1:i2]  # (B, B) upper
        if target.n_m is None:
            mask1 = torch.empty_like(W1, dtype=torch.bool)  # (B, out)
            scores = W1.square() / d2[i1:i2, None]  # (B, out)
            for r0, r1 in segments:  # each linear's exact count over its own rows
                rows = r1 - r0
                k = target.zeros_for(rows * i2) - target.zeros_for(rows * i1)
                # Ranked in (out, in) order so ties break as in the other solvers.
                mask1[:, r0:r1] = lowest_k(scores[:, r0:r1].t(), k).t()
            groups = [(0, i2 - i1)]
        else:
            mask1 = torch.empty_like(W1, dtype=torch.bool)  # filled group by group
            m = target.n_m[1]
            groups = [(j, j + m) for j in range(0, i2 - i1, m)]
        if triangular:
            Err1 = _sweep_groups(W1, U1, mask1, d2[i1:i2], target, groups)
        else:
            Err1 = _sweep_columns(W1, U1, mask1, d2[i1:i2], target)
        WT[i2:].addmm_(U[i1:i2, i2:].t(), Err1, alpha=-1)


def _choose_n_m(W: Tensor, d2: Tensor, target: Target) -> Tensor:
    """Mask of one n:m group (m, out) on its current weights."""
    assert target.n_m is not None
    n, m = target.n_m
    scores = W.square() / d2[:, None]  # (m, out)
    return n_of_m(scores.t(), n, m).t()


def _sweep_columns(W1: Tensor, U1: Tensor, mask1: Tensor, d2: Tensor, target: Target) -> Tensor:
    """One block, one column at a time: rank-1 updates in place. Returns the errors (B, out)."""
    Err1 = torch.empty_like(W1)  # (B, out) the block's errors w_pruned / U_ii
    inv_d = U1.diagonal().reciprocal()  # (B,)
    for j in range(W1.shape[0]):
        if target.n_m is not None and j % target.n_m[1] == 0:
            m = target.n_m[1]
            mask1[j : j + m] = _choose_n_m(W1[j : j + m], d2[j : j + m], target)
        err = torch.mul(W1[j], mask1[j], out=Err1[j]).mul_(inv_d[j])  # (out,)
        W1[j + 1 :].addr_(U1[j, j + 1 :], err, alpha=-1)
        W1[j].masked_fill_(mask1[j], 0.0)
    return Err1


def _sweep_groups(
    W1: Tensor, U1: Tensor, mask1: Tensor, d2: Tensor, target: Target, groups: Sequence[tuple[int, int]]
) -> Tensor:
    """One block, one mask group at a time (the whole block when unstructured): the group's
    errors from per-row triangular solves, then its updates as matrix products. Returns the
    errors (B, out)."""
    Err1 = torch.empty_like(W1)
    for a, b in groups:
        if target.n_m is not None:
            mask1[a:b] = _choose_n_m(W1[a:b], d2[a:b], target)
        Ug = U1[a:b, a:b]  # (g, g) upper
        E = _masked_errors(W1[a:b], Ug, mask1[a:b])  # (g, out)
        Err1[a:b] = E
        W1[a:b].addmm_(Ug.triu(1).t(), E, alpha=-1)  # updates inside the group (dead after masking but kept exact)
        W1[b:].addmm_(U1[a:b, b:].t(), E, alpha=-1)  # the rest of the block
        W1[a:b].masked_fill_(mask1[a:b], 0.0)
    return Err1


def _masked_errors(W: Tensor, U: Tensor, mask: Tensor) -> Tensor:
    """Errors (g, out) of sweeping columns W (g, out) with upper factor U (g, g) and a fixed mask.

    Column j's error is e_j = m_j (w_j - sum_{i<j} U_ij e_i) / U_jj for every output row: for
    row r a lower triangular system A_r e = m_r * w_r with A_r = diag(U) + diag(m_r) tril(U^T, -1).
    """
    g, out = W.shape
    strict = U.t().tril(-1)  # (g, g)
    diag = U.diagonal()
    E = torch.empty_like(W)
    chunk = max(1, _SOLVE_CHUNK // (g * g))
    for r0 in range(0, out, chunk):
        m = mask[:, r0 : r0 + chunk].t().to(W.dtype)  # (rows, g)
        A = strict * m[:, :, None]  # (rows, g, g): row j kept only where column j is pruned
        A.diagonal(dim1=1, dim2=2).copy_(diag.expand_as(m))
        rhs = (W[:, r0 : r0 + chunk].t() * m).unsqueeze(-1)  # (rows, g, 1)
        E[:, r0 : r0 + chunk] = torch.linalg.solve_triangular(A, rhs, upper=False).squeeze(-1).t()
    return E
