"""How much a pruned layer's output moved on the calibration inputs."""

from __future__ import annotations

from torch import Tensor

from calray.errors import CalrayError
from calray.prune.checks import compute_dtype


def layer_error(dense: Tensor, pruned: Tensor, hessian: Tensor) -> float:
    """Relative output error tr(dW H dW^T) / tr(W H W^T) with dW = pruned - dense.

    With H = (2/n) X X^T this is ||dW X||^2 / ||W X||^2: the squared error of the layer's
    output on the calibration tokens, relative to the output itself (0 = unchanged).
    Returns 0.0 when both are zero and inf when only the dense output is zero.

    >>> W = torch.tensor([[1.0, 2.0]])
    >>> layer_error(W, torch.tensor([[1.0, 0.0]]), torch.eye(2))
    0.8
    """
    if dense.shape != pruned.shape or dense.dim() != 2:
        raise CalrayError(
            f"dense and pruned weights must be matrices of one shape, got {tuple(dense.shape)} "
            f"and {tuple(pruned.shape)}"
        )
    cols = dense.shape[1]
    if hessian.shape != (cols, cols):
        raise CalrayError(
            f"Hessian shape {tuple(hessian.shape)} does not match the weight's {cols} inputs"
        )
    dtype = compute_dtype(dense, pruned, hessian)
    W = dense.to(dtype)  # (out, in)
    dW = pruned.to(device=W.device, dtype=dtype) - W  # (out, in)
    H = hessian.to(device=W.device, dtype=dtype)  # (in, in)
    num = float(((dW @ H) * dW).sum())
    den = float(((W @ H) * W).sum())
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den
