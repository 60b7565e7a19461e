"""What a layer is pruned to: an unstructured sparsity, or an N:M pattern.

Validated on construction so a bad ``--sparsity`` or ``--n-m`` fails before any model is
loaded. The unstructured count is exact: a layer of ``numel`` weights loses exactly
``zeros_for(numel)`` of them (``sparsity * numel`` rounded half up, computed in exact
rational arithmetic so every solver and every test agrees on it).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

from calray.errors import CalrayError


@dataclass(frozen=True)
class Target:
    """Unstructured ``sparsity`` (fraction zeroed), or ``n_m=(N, M)``: N zeros in every M
    consecutive inputs of each row. With ``n_m`` set, ``sparsity`` becomes N/M.

    >>> Target.parse(n_m="2:4")
    Target(sparsity=0.5, n_m=(2, 4))
    >>> Target(sparsity=0.6).zeros_for(10)
    6
    """

    sparsity: float = 0.0
    n_m: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(float(s)):
            raise CalrayError(f"sparsity must be a number in [0, 1), got {s!r}")
        if not 0.0 <= float(s) < 1.0:
            raise CalrayError(
                f"sparsity must be in [0, 1) (the fraction of weights zeroed), got {s}; "
                "e.g. 0.5 for 50%"
            )
        object.__setattr__(self, "sparsity", float(s))
        if self.n_m is None:
            return
        n_m = self.n_m
        if (
            not isinstance(n_m, tuple)
            or len(n_m) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in n_m)
        ):
            raise CalrayError(f"n_m must be a pair of integers (N, M), got {n_m!r}; e.g. (2, 4)")
        n, m = n_m
        if not 1 <= n < m:
            raise CalrayError(
                f"n:m pattern {n}:{m} is invalid: need 1 <= N < M (N zeros in every M inputs); "
                "e.g. 2:4 or 4:8"
            )
        if self.sparsity not in (0.0, n / m):
            raise CalrayError(
                f"give either sparsity ({self.sparsity}) or n_m ({n}:{m}), not both; "
                f"an {n}:{m} pattern always has sparsity {n / m:g}"
            )
        object.__setattr__(self, "sparsity", n / m)

    @classmethod
    def parse(
        cls, sparsity: float | None = None, n_m: str | tuple[int, int] | None = None
    ) -> Target:
        """Build a target from user input: exactly one of ``sparsity`` or ``n_m`` ("2:4" or (2, 4))."""
        if (sparsity is None) == (n_m is None):
            raise CalrayError(
                "give exactly one pruning target: a sparsity in [0, 1) (e.g. 0.5) or an n:m "
                f"pattern (e.g. 2:4); got sparsity={sparsity!r}, n_m={n_m!r}"
            )
        if n_m is None:
            return cls(sparsity=sparsity)  # type: ignore[arg-type]
        if isinstance(n_m, str):
            parts = n_m.strip().split(":")
            try:
                n, m = (int(p) for p in parts)
            except ValueError:
                raise CalrayError(
                    f"n:m pattern must look like '2:4' (two integers), got {n_m!r}"
                ) from None
            return cls(n_m=(n, m))
        if isinstance(n_m, list):
            n_m = tuple(n_m)  # YAML and JSON configs give lists
        return cls(n_m=n_m)

    @classmethod
    def of(cls, sparsity: float, n_m: str | tuple[int, int] | None) -> Target:
        """The solver functions' convention: ``n_m`` when given (``sparsity`` then ignored)."""
        return cls.parse(n_m=n_m) if n_m is not None else cls.parse(sparsity=sparsity)

    @property
    def structured(self) -> bool:
        return self.n_m is not None

    def check_width(self, in_features: int, *, name: str) -> None:
        """Raise ``CalrayError`` if an N:M pattern cannot tile a layer with ``in_features`` inputs."""
        if self.n_m is not None and in_features % self.n_m[1] != 0:
            n, m = self.n_m
            raise CalrayError(
                f"layer {name!r} has {in_features} inputs, not a multiple of M={m}, so {n}:{m} "
                f"cannot tile its rows; use a pattern whose M divides {in_features}, or exclude "
                "this layer"
            )

    def zeros_for(self, numel: int) -> int:
        """How many of ``numel`` weights an unstructured target zeroes: round half up, exactly."""
        return math.floor(Fraction(self.sparsity) * numel + Fraction(1, 2))

    def __str__(self) -> str:
        if self.n_m is not None:
            return f"{self.n_m[0]}:{self.n_m[1]}"
        return f"{self.sparsity:.4g} unstructured"
