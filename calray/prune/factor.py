"""Damp and factor a layer input's Hessian once, for every linear that reads that input.

SparseGPT needs U, the upper Cholesky factor of (H + damping)^-1. q, k and v (and gate/up)
read the same input, so the driver factors once per input and hands the same
``HessianFactor`` to each of them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from calray.errors import CalrayError
from calray.prune.checks import PruningError, compute_dtype, require_finite, require_matrix

log = logging.getLogger(__name__)

MAX_ESCALATIONS = 3  # percdamp x10 at most this many times before giving up


@dataclass(frozen=True)
class HessianFactor:
    """A factored Hessian, ready for ``sparsegpt_from_factor``.

    ``hinv_chol`` is float32 (float64 when the Hessian was float64). ``percdamp`` is the
    damping actually used, after any escalation, for the pruning report.
    """

    hinv_chol: Tensor  # (in, in) upper Cholesky factor of (damped H)^-1
    dead: Tensor  # (in,) bool: inputs that never fired (diag H == 0)
    percdamp: float
    escalations: int = 0  # how many times the requested damping had to be raised x10

    @property
    def in_features(self) -> int:
        return self.hinv_chol.shape[0]


def factor_hessian(hessian: Tensor, *, percdamp: float = 0.01, name: str = "layer") -> HessianFactor:
    """Factor ``hessian`` (in, in) = (2/n) sum x x^T: dead inputs get H_ii = 1, damping
    ``percdamp * mean(diag H)`` is added to the diagonal, and U = chol((H + damp)^-1, upper).

    When a Cholesky fails the damping is raised x10, at most ``MAX_ESCALATIONS`` times, with
    a warning; if none works a ``PruningError`` names the layer. There is no silent fallback.
    The input is not modified.
    """
    rows, cols = require_matrix(hessian, what="Hessian", name=name)
    if rows != cols:
        raise CalrayError(f"layer {name!r}: Hessian must be square, got shape {(rows, cols)}")
    if isinstance(percdamp, bool) or not (math.isfinite(percdamp) and percdamp > 0):
        raise CalrayError(f"percdamp must be a positive number (typically 0.01), got {percdamp!r}")
    require_finite(hessian, what="Hessian", name=name)

    H = hessian.to(dtype=compute_dtype(hessian), copy=True)  # (in, in) private copy
    _require_symmetric(H, name=name)
    diag = H.diagonal()
    dead = diag == 0
    diag[dead] = 1.0
    mean_diag = float(diag.mean())

    tried = []
    for step in range(MAX_ESCALATIONS + 1):
        damp = percdamp * 10**step
        tried.append(damp)
        U = _inverse_cholesky(H, damp * mean_diag)
        if U is not None:
            if step:
                log.warning(
                    "layer %r: Hessian not positive definite at percdamp=%g; used percdamp=%g",
                    name, percdamp, damp,
                )
            return HessianFactor(hinv_chol=U, dead=dead, percdamp=damp, escalations=step)
    raise PruningError(
        name,
        "Hessian is not positive definite even with damping escalated: tried percdamp="
        f"{', '.join(f'{d:g}' for d in tried)} (mean diag H = {mean_diag:.4g}); the "
        "calibration activations are degenerate: use more or different calibration data",
    )


def _require_symmetric(H: Tensor, *, name: str) -> None:
    """An asymmetric H means a bug in its accumulation; Cholesky would silently use half."""
    scale = float(H.diagonal().abs().max()) if H.numel() else 0.0
    asymmetry = float((H - H.T).abs().max()) if H.numel() else 0.0
    if asymmetry > 1e-4 * scale:
        raise PruningError(
            name,
            f"Hessian is not symmetric (max |H - H^T| = {asymmetry:.3g}, max |diag H| = "
            f"{scale:.3g}); it must be (2/n) sum x x^T",
        )


def _inverse_cholesky(H: Tensor, damp: float) -> Tensor | None:
    """U with U^T U = (H + damp I)^-1, or None if either Cholesky fails."""
    damped = H.clone()
    damped.diagonal().add_(damp)
    L, info = torch.linalg.cholesky_ex(damped)
    if int(info) != 0:
        return None
    Hinv = torch.cholesky_inverse(L)
    U, info = torch.linalg.cholesky_ex(Hinv, upper=True)
    if int(info) != 0 or not bool(torch.isfinite(U).all()):
        return None
    return U  # torch's stubs type cholesky_ex loosely
