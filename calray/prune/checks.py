"""Numerical failures of a solver, and the input checks every solver shares.

A ``PruningError`` names the layer that failed and what was wrong with its numbers (NaN in
the weight, a Hessian no damping can make positive definite, ...). It is a ``CalrayError``
because the cause is nearly always the input: broken activations, too little calibration
data, a model already full of NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from calray.errors import CalrayError


class PruningError(CalrayError):
    """A numerical failure while pruning one layer; ``layer`` holds the layer's name."""

    def __init__(self, layer: str, problem: str) -> None:
        super().__init__(f"cannot prune layer {layer!r}: {problem}")
        self.layer = layer
        self.problem = problem

    def __reduce__(self) -> tuple[type[PruningError], tuple[str, str]]:
        # Default exception pickling replays ``args`` (the full message) into __init__,
        # which takes two arguments; Ray ships errors between processes by pickling.
        return (type(self), (self.layer, self.problem))


def require_matrix(tensor: Tensor, *, what: str, name: str) -> tuple[int, int]:
    """Return ``tensor``'s (rows, cols), or raise ``CalrayError`` if it is not a float matrix."""
    if not isinstance(tensor, Tensor):
        raise CalrayError(f"layer {name!r}: {what} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != 2:
        raise CalrayError(
            f"layer {name!r}: {what} must be 2-D, got shape {tuple(tensor.shape)}; "
            "pass a linear weight as (out_features, in_features)"
        )
    if not tensor.is_floating_point():
        raise CalrayError(f"layer {name!r}: {what} must be a floating-point tensor, got {tensor.dtype}")
    return tensor.shape[0], tensor.shape[1]


def require_finite(tensor: Tensor, *, what: str, name: str) -> None:
    """Raise ``PruningError`` naming the layer if ``tensor`` holds NaN or Inf."""
    if bool(torch.isfinite(tensor).all()):
        return
    nan = int(torch.isnan(tensor).sum())
    inf = int(torch.isinf(tensor).sum())
    raise PruningError(
        name,
        f"{what} is not finite ({nan} NaN and {inf} Inf of {tensor.numel()} values); "
        "check the model's weights and the calibration activations",
    )


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32: half precision never does the math."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
