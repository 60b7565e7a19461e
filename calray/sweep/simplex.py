"""Mixture weights as points of the probability simplex, and how a searcher reaches them.

**Parameterisation: a flat Dirichlet through independent uniforms.** Each free source i gets
one search parameter u_i in (0, 1]; its weight is

    x_i = -ln u_i          (an Exp(1) variable when u_i ~ U(0, 1])
    w_i = x_i / sum_j x_j

Normalised independent Exp(1) variables are Dirichlet(1, ..., 1), the *uniform* distribution
on the simplex, so random search over the u's samples mixtures uniformly, and TPE models K
plain bounded floats. Every point is reachable, vertices included: u_j = 1 gives x_j = 0, so
a single source alone is u = (1, .., e^-1, .., 1) and the uniform mix is u_i = e^-1 for all i.
Any mixture w maps back exactly (``point``): u_i = exp(-w_i) gives x = w, already normalised.

Why not softmax logits: w = softmax(z) is not identifiable (z and z + c give the same w, so a
searcher spends a dimension on nothing), and it puts no mass at the vertices or faces (a
weight reaches 0 only as a logit goes to -inf), though "this source alone" and "leave this
source out" are the study's most interesting mixtures.

**Bounds and fixed sources.** A fixed source keeps its weight and gets no parameter; the free
sources share the rest, R = 1 - sum(fixed). Lower bounds l_i are met by an affine map of the
free simplex point w': w = l + (R - sum l) w' (uniform stays uniform on the bounded polytope).
Upper bounds h_i are then met by clipping and giving the clipped excess to the sources below
their bound in proportion to their room (h_i - w_i): this never overshoots (the total room is
at least the excess whenever sum h >= R), is continuous, and leaves every point that already
satisfies the bounds unchanged, so ``point`` inverts it on the feasible set. Upper bounds do
concentrate some mass on the faces w_i = h_i; the search still covers the whole feasible set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from calray.errors import CalrayError

U_LOW = 1e-12  # the u's lower bound: x = -ln u <= 27.6, far past any weight a searcher needs
WEIGHT_FLOOR = 1e-6  # weights below this are numerical noise and become exactly 0
_TOL = 1e-9


@dataclass(frozen=True)
class SimplexSpace:
    """Mixtures over ``sources``: ``fixed`` weights, and ``lower`` / ``upper`` bounds on the others.

    >>> space = SimplexSpace(("a", "b", "c"))
    >>> space.weights({"a": 1.0, "b": math.exp(-1), "c": 1.0})     # the vertex "b alone"
    {'a': 0.0, 'b': 1.0, 'c': 0.0}
    >>> space.weights(space.point({"a": 0.2, "b": 0.3, "c": 0.5}))
    {'a': 0.2, 'b': 0.3, 'c': 0.5}
    """

    sources: tuple[str, ...]
    lower: Mapping[str, float] = field(default_factory=dict)
    upper: Mapping[str, float] = field(default_factory=dict)
    fixed: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sources:
            raise CalrayError("a mixture search needs at least one source")
        if len(set(self.sources)) != len(self.sources):
            twice = sorted({s for s in self.sources if self.sources.count(s) > 1})
            raise CalrayError(f"sources {twice} are listed twice; name each source once")
        for what, values in (("lower bound", self.lower), ("upper bound", self.upper), ("fixed weight", self.fixed)):
            for name, value in values.items():
                if name not in self.sources:
                    raise CalrayError(f"{what} given for {name!r}, which is not among the searched sources {list(self.sources)}")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise CalrayError(f"{what} of {name!r} is {value!r}; it must be a number in [0, 1]")
        both = sorted(set(self.fixed) & (set(self.lower) | set(self.upper)))
        if both:
            raise CalrayError(f"sources {both} are fixed and bounded at once; give a fixed weight or bounds, not both")
        if not self.free:
            raise CalrayError("every source has a fixed weight: there is nothing to search; free at least one source")
        rest = self.remaining
        if rest < -_TOL:
            raise CalrayError(
                f"fixed weights {dict(self.fixed)} sum to {1 - rest:g} > 1; they must leave room for the other sources"
            )
        for name in self.free:
            if self.low(name) > self.high(name) + _TOL:
                raise CalrayError(f"bounds of {name!r}: min {self.low(name):g} > max {self.high(name):g}")
        low, high = sum(self.low(s) for s in self.free), sum(self.high(s) for s in self.free)
        if low > rest + _TOL:
            raise CalrayError(f"lower bounds sum to {low:g} but the free sources share only {rest:g}; lower them")
        if high < rest - _TOL:
            raise CalrayError(f"upper bounds sum to {high:g} but the free sources must share {rest:g}; raise them")

    # --- shape -------------------------------------------------------------------------------
    @property
    def free(self) -> tuple[str, ...]:
        """The sources with a search parameter, in the given order."""
        return tuple(s for s in self.sources if s not in self.fixed)

    @property
    def remaining(self) -> float:
        """The weight the free sources share."""
        return 1.0 - float(sum(self.fixed.values()))

    def low(self, name: str) -> float:
        return float(self.lower.get(name, 0.0))

    def high(self, name: str) -> float:
        return min(float(self.upper.get(name, 1.0)), self.remaining)

    @property
    def bounded(self) -> bool:
        return any(self.low(s) > 0 or self.high(s) < self.remaining - _TOL for s in self.free)

    # --- parameters <-> weights ------------------------------------------------------------------
    def weights(self, u: Mapping[str, float]) -> dict[str, float]:
        """The mixture of search parameters ``u`` (one per free source, in (0, 1])."""
        missing = [s for s in self.free if s not in u]
        if missing:
            raise CalrayError(f"search parameters lack sources {missing}; expected one per free source {list(self.free)}")
        values = np.array([float(u[s]) for s in self.free])
        if not np.all((values > 0) & (values <= 1)):
            raise CalrayError(f"search parameters must lie in (0, 1], got {dict(zip(self.free, values.tolist(), strict=True))}")
        x = -np.log(values)  # (K,) Exp(1) when u is uniform
        total = x.sum()
        simplex = x / total if total > 0 else np.full(len(x), 1.0 / len(x))  # all u = 1: the limit of equal u's
        return self._place(simplex)

    def point(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Search parameters that give back ``weights`` (which must satisfy the bounds)."""
        w = self.check(weights)
        spare = self.remaining - sum(self.low(s) for s in self.free)
        free = np.array([w[s] - self.low(s) for s in self.free])
        simplex = free / spare if spare > _TOL else np.full(len(free), 1.0 / len(free))
        return {s: float(math.exp(-v)) for s, v in zip(self.free, np.clip(simplex, 0.0, None), strict=True)}

    def check(self, weights: Mapping[str, float]) -> dict[str, float]:
        """``weights`` over this space's sources, normalised to sum 1, or an error saying what is wrong."""
        unknown = [s for s in weights if s not in self.sources]
        if unknown:
            raise CalrayError(
                f"mixture {dict(weights)} names sources {unknown} outside the searched sources {list(self.sources)}"
            )
        for name, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise CalrayError(f"weight of {name!r} in mixture {dict(weights)} is {value!r}; weights are finite numbers >= 0")
        total = float(sum(weights.values()))
        if total <= 0:
            raise CalrayError(f"mixture {dict(weights)} has no positive weight")
        w = {s: float(weights.get(s, 0.0)) / total for s in self.sources}
        for name, value in self.fixed.items():
            if abs(w[name] - value) > 1e-6:
                raise CalrayError(f"mixture {dict(weights)} gives fixed source {name!r} weight {w[name]:.6g}, not {value:g}")
        for name in self.free:
            if not self.low(name) - 1e-6 <= w[name] <= self.high(name) + 1e-6:
                raise CalrayError(
                    f"mixture {dict(weights)} gives {name!r} weight {w[name]:.6g}, outside its bounds "
                    f"[{self.low(name):g}, {self.high(name):g}]"
                )
        return w

    def _place(self, simplex: np.ndarray) -> dict[str, float]:
        """A free-simplex point (K,) -> weights over every source, meeting fixed weights and bounds."""
        low = np.array([self.low(s) for s in self.free])
        high = np.array([self.high(s) for s in self.free])
        w = low + (self.remaining - low.sum()) * simplex
        over = w > high
        if over.any():
            w = _reassign(w, over, high, ~over, high)
        # Weights below the floor are noise: drop them here, giving their mass to the kept free
        # sources by their room, so that tidying (which renormalises) moves no fixed weight or bound.
        noise = (w > 0) & (w < WEIGHT_FLOOR)
        if noise.any():
            w = _reassign(w, noise, np.zeros_like(w), w >= WEIGHT_FLOOR, high)
        out = dict(zip(self.free, w.tolist(), strict=True))
        out.update(self.fixed)
        return tidy({s: out[s] for s in self.sources})

    # --- fixed designs -----------------------------------------------------------------------------
    def vertices(self) -> list[dict[str, float]]:
        """Every free source alone (as far as the bounds allow): the simplex's vertices."""
        return [self._place(np.eye(len(self.free))[i]) for i in range(len(self.free))]

    def uniform(self) -> dict[str, float]:
        """The centre: equal weights for the free sources (within the bounds)."""
        k = len(self.free)
        return self._place(np.full(k, 1.0 / k))

    def lattice(self, resolution: int) -> list[dict[str, float]]:
        """Every composition of ``resolution`` into the free sources (weights k / resolution),
        mapped into the bounds, duplicates dropped: C(r + K - 1, K - 1) points before bounds."""
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise CalrayError(f"lattice resolution is {resolution!r}; it must be an integer >= 1")
        k = len(self.free)
        count = math.comb(resolution + k - 1, k - 1)
        if count > 100_000:
            raise CalrayError(f"a lattice of resolution {resolution} over {k} sources has {count} points; lower the resolution")
        return unique(self._place(np.array(c, dtype=float) / resolution) for c in compositions(resolution, k))

    def random(self, n: int, *, seed: int = 0) -> list[dict[str, float]]:
        """``n`` mixtures drawn uniformly (flat Dirichlet) through the same map as the searchers use."""
        rng = np.random.default_rng(seed)
        return [
            self.weights(dict(zip(self.free, rng.uniform(U_LOW, 1.0, len(self.free)).tolist(), strict=True))) for _ in range(n)
        ]


def _reassign(w: np.ndarray, mask: np.ndarray, value: np.ndarray, eligible: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``w`` with ``w[mask]`` set to ``value[mask]``, the mass this removes given to the
    ``eligible`` entries in proportion to their room below ``high`` (so none overshoots)."""
    mass = float((w[mask] - value[mask]).sum())
    w = np.where(mask, value, w)
    room = np.where(eligible & ~mask, high - w, 0.0)
    return w + mass * room / room.sum() if room.sum() > 0 else w


def compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """All tuples of ``parts`` non-negative integers summing to ``total`` (stars and bars)."""
    for bars in combinations(range(total + parts - 1), parts - 1):
        edges = (-1, *bars, total + parts - 1)
        yield tuple(edges[i + 1] - edges[i] - 1 for i in range(parts))


def tidy(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights below ``WEIGHT_FLOOR`` set to 0, the rest renormalised and rounded to 12 digits
    (the precision of a mixture's text form), so that equal mixtures have equal ids."""
    kept = {s: (w if w >= WEIGHT_FLOOR else 0.0) for s, w in weights.items()}
    total = sum(kept.values())
    return {s: float(f"{w / total:.12g}") for s, w in kept.items()}


def unique(mixtures: Iterable[Mapping[str, float]]) -> list[dict[str, float]]:
    """``mixtures`` without repeats (equal after tidying), first occurrence kept."""
    seen: set[tuple[tuple[str, float], ...]] = set()
    out = []
    for m in mixtures:
        key = tuple(sorted(tidy(m).items()))
        if key not in seen:
            seen.add(key)
            out.append(dict(m))
    return out


def mixture_label(weights: Mapping[str, float], *, digits: int = 2) -> str:
    """A short human label: ``toy:gsm`` for a vertex, else ``a=0.50,b=0.50`` (non-zero weights)."""
    nonzero = [(s, w) for s, w in weights.items() if w > 0]
    if len(nonzero) == 1:
        return nonzero[0][0]
    return ",".join(f"{s}={w:.{digits}f}" for s, w in sorted(nonzero, key=lambda sw: -sw[1]))
