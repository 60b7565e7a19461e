"""Small random layers for the solver tests."""

from __future__ import annotations

import torch
from torch import Tensor


def random_layer(
    rows: int, cols: int, *, seed: int, tokens: int = 256, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """A weight (rows, cols) and the Hessian 2/n X^T X of correlated random inputs X."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    mix = torch.eye(cols, dtype=torch.float64) + torch.randn(cols, cols, generator=g, dtype=torch.float64) / cols**0.5
    X = torch.randn(tokens, cols, generator=g, dtype=torch.float64) @ mix  # (tokens, cols)
    H = 2 * X.T @ X / tokens
    return W.to(dtype), H.to(dtype)


def is_valid_n_m(weight: Tensor, n: int, m: int) -> bool:
    """Every group of m consecutive inputs of every row has at least n zeros."""
    zeros = (weight == 0).reshape(weight.shape[0], -1, m).sum(dim=2)
    return bool((zeros >= n).all())


def zeros_per_group(weight: Tensor, m: int) -> Tensor:
    return (weight == 0).reshape(weight.shape[0], -1, m).sum(dim=2)
