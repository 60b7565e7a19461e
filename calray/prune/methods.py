"""Pruning methods as the layer-wise driver sees them, so it never branches on a name.

A method declares which statistic of a linear's input it needs (``statistic``), turns that
statistic into something reusable once per input (``prepare``: SparseGPT factors the
Hessian there, shared by q/k/v), prunes each linear reading that input (``prune``), and
says what to put in the report (``info``). Methods are frozen dataclasses: the registry
holds default instances and ``dataclasses.replace(method, percdamp=0.1)`` changes options.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import Tensor

from calray.errors import CalrayError
from calray.prune.factor import HessianFactor, factor_hessian
from calray.prune.scored import check_hessian_diag, magnitude, wanda
from calray.prune.sparsegpt import sparsegpt_from_factor, sparsegpt_stacked
from calray.prune.target import Target
from calray.registry import Registry

Statistic = Literal["hessian", "diag", "none"]


class PruningMethod(ABC):
    """What the driver calls; see the module docstring."""

    statistic: ClassVar[Statistic]
    """What the driver accumulates per input: "hessian" (in, in), "diag" (in,) or "none"."""

    @abstractmethod
    def prepare(self, stat: Tensor | None, *, name: str) -> Any:
        """Turn one input's statistic into what ``prune`` needs; called once per input."""

    @abstractmethod
    def prune(self, weight: Tensor, prepared: Any, target: Target, *, name: str) -> Tensor:
        """Return ``weight`` (out, in) pruned to ``target``; ``weight`` is not modified."""

    def prune_group(
        self, weights: Sequence[Tensor], prepared: Any, target: Target, *, names: Sequence[str]
    ) -> list[Tensor]:
        """Prune every linear reading one input; a method may solve them together (SparseGPT
        stacks their rows), as long as each result equals what ``prune`` gives it alone."""
        return [self.prune(w, prepared, target, name=n) for w, n in zip(weights, names, strict=True)]

    def info(self, prepared: Any) -> dict[str, float]:
        """Numbers for the pruning report (e.g. the damping used and how often it was raised)."""
        return {}


METHODS: Registry[PruningMethod] = Registry("pruning method")


@dataclass(frozen=True)
class SparseGPT(PruningMethod):
    """SparseGPT: OBS weight updates from the full input Hessian."""

    statistic: ClassVar[Statistic] = "hessian"
    block_size: int = 128
    percdamp: float = 0.01

    def prepare(self, stat: Tensor | None, *, name: str) -> HessianFactor:
        if stat is None:
            raise CalrayError(f"layer {name!r}: sparsegpt needs the input Hessian, got None")
        return factor_hessian(stat, percdamp=self.percdamp, name=name)

    def prune(self, weight: Tensor, prepared: Any, target: Target, *, name: str) -> Tensor:
        return sparsegpt_from_factor(weight, prepared, target, block_size=self.block_size, name=name)

    def prune_group(
        self, weights: Sequence[Tensor], prepared: Any, target: Target, *, names: Sequence[str]
    ) -> list[Tensor]:
        """q/k/v (gate/up) in one sweep of their stacked rows, each with its own mask."""
        return sparsegpt_stacked(weights, prepared, target, block_size=self.block_size, names=names)

    def info(self, prepared: Any) -> dict[str, float]:
        return {
            "percdamp": prepared.percdamp,
            "damping_escalations": float(prepared.escalations),
            "dead_inputs": float(prepared.dead.sum()),
        }


@dataclass(frozen=True)
class Wanda(PruningMethod):
    """Wanda: |W| * ||X_j|| per output row, from the Hessian's diagonal."""

    statistic: ClassVar[Statistic] = "diag"

    def prepare(self, stat: Tensor | None, *, name: str) -> Tensor:
        """Accepts diag H (in,) or the full H (in, in), whose diagonal is taken."""
        if stat is None:
            raise CalrayError(f"layer {name!r}: wanda needs the Hessian diagonal, got None")
        diag = stat.diagonal() if stat.dim() == 2 else stat
        check_hessian_diag(diag, name=name)
        return diag

    def prune(self, weight: Tensor, prepared: Any, target: Target, *, name: str) -> Tensor:
        return wanda(weight, prepared, target.sparsity, n_m=target.n_m, name=name)

    def info(self, prepared: Any) -> dict[str, float]:
        return {"dead_inputs": float((prepared == 0).sum())}


@dataclass(frozen=True)
class Magnitude(PruningMethod):
    """Magnitude: |W| over the layer; needs no calibration statistic."""

    statistic: ClassVar[Statistic] = "none"

    def prepare(self, stat: Tensor | None, *, name: str) -> None:
        return None

    def prune(self, weight: Tensor, prepared: Any, target: Target, *, name: str) -> Tensor:
        return magnitude(weight, target.sparsity, n_m=target.n_m, name=name)


METHODS.register("sparsegpt", SparseGPT())
METHODS.register("wanda", Wanda())
METHODS.register("magnitude", Magnitude())
