"""One-shot pruning by a per-weight score, without weight updates: magnitude and Wanda.

Magnitude ranks |W| over the whole layer (Han et al., 2015). Wanda (Sun et al., 2024) ranks
|W_ij| * ||X_j||_2 within each output row; since diag H = (2/n) ||X_j||^2, sqrt(diag H)
gives the same ranking. Both return a new tensor in the weight's dtype and device.
"""

from __future__ import annotations

from torch import Tensor

from calray.errors import CalrayError
from calray.prune.checks import PruningError, compute_dtype, require_finite, require_matrix
from calray.prune.selection import select
from calray.prune.target import Target


def magnitude(
    weight: Tensor,
    sparsity: float,
    *,
    n_m: tuple[int, int] | str | None = None,
    name: str = "layer",
) -> Tensor:
    """Zero the smallest |W| of ``weight`` (out, in): exactly per layer, or per n:m group.

    >>> magnitude(torch.tensor([[1.0, -3.0, 0.5, 2.0]]), 0.5)
    tensor([[ 0., -3.,  0.,  2.]])
    """
    target = Target.of(sparsity, n_m)
    _, cols = require_matrix(weight, what="weight", name=name)
    target.check_width(cols, name=name)
    require_finite(weight, what="weight", name=name)
    mask = select(weight.abs(), target, per_row=False)
    return weight.masked_fill(mask, 0.0)


def wanda(
    weight: Tensor,
    hessian_diag: Tensor,
    sparsity: float,
    *,
    n_m: tuple[int, int] | str | None = None,
    name: str = "layer",
) -> Tensor:
    """Zero the lowest |W| * sqrt(diag H) of each output row of ``weight`` (out, in).

    Each row loses floor or ceil of ``sparsity * in`` weights and the layer's total is
    exact; with ``n_m`` the lowest N of every M inputs of each row.
    """
    target = Target.of(sparsity, n_m)
    _, cols = require_matrix(weight, what="weight", name=name)
    target.check_width(cols, name=name)
    if not isinstance(hessian_diag, Tensor) or hessian_diag.shape != (cols,):
        shape = tuple(hessian_diag.shape) if isinstance(hessian_diag, Tensor) else type(hessian_diag).__name__
        raise CalrayError(
            f"layer {name!r}: hessian_diag must have shape ({cols},) to match the weight's "
            f"inputs, got {shape}"
        )
    require_finite(weight, what="weight", name=name)
    check_hessian_diag(hessian_diag, name=name)
    dtype = compute_dtype(weight, hessian_diag)
    norms = hessian_diag.to(device=weight.device, dtype=dtype).sqrt()  # (in,) ~ ||X_j||
    scores = weight.to(dtype).abs() * norms[None, :]  # (out, in)
    mask = select(scores, target, per_row=True)
    return weight.masked_fill(mask, 0.0)


def check_hessian_diag(hessian_diag: Tensor, *, name: str) -> None:
    """A Hessian diagonal must be finite and non-negative (it is a sum of squares)."""
    require_finite(hessian_diag, what="Hessian diagonal", name=name)
    negative = int((hessian_diag < 0).sum())
    if negative:
        raise PruningError(
            name,
            f"Hessian diagonal has {negative} negative entries (it is a sum of squared "
            "activations); check how the statistics were accumulated",
        )

