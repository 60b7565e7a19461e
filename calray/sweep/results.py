"""What a sweep returns: its trials as recorded, the best mixture, the Pareto front, tables."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calray.format import fixed
from calray.sweep.objective import OBJECTIVE, Objective, pareto_front
from calray.sweep.simplex import mixture_label

if TYPE_CHECKING:
    from calray.sweep.confirm import Confirmation


@dataclass
class TrialRecord:
    trial_id: str
    run_id: str
    status: str  # Tune's: TERMINATED, ERROR, ...
    weights: dict[str, float]
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return mixture_label(self.weights)

    @property
    def ok(self) -> bool:
        return self.status == "TERMINATED" and math.isfinite(self.metrics.get(OBJECTIVE, math.nan))

    @property
    def full(self) -> bool:
        """Evaluated on the full capability map (not only on a fidelity level's subset)."""
        return not self.metrics.get("fidelity/limit")

    def retention(self, dimension: str) -> float:
        return float(self.metrics.get(f"retention/{dimension}", math.nan))


@dataclass
class SweepResult:
    sweep_id: str
    name: str
    path: str
    parent_run_id: str
    tracking_uri: str
    experiment: str
    objective: Objective
    dense: dict[str, dict[str, float]]
    trials: list[TrialRecord]
    dimensions: list[str]
    confirmations: list[Confirmation] = field(default_factory=list)  # one per confirmed mixture and seed

    def finished(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.ok]

    def best(self) -> TrialRecord | None:
        """The finished trial with the highest objective (first on ties); with fidelity levels,
        among those evaluated on the full map."""
        done = self.finished()
        full = [t for t in done if t.full]
        return max(full or done, key=lambda t: t.metrics[OBJECTIVE]) if done else None

    def front(self) -> list[TrialRecord]:
        """The non-dominated trials over every dimension's retention."""
        done = {t.trial_id: t for t in self.finished()}
        keys = pareto_front({k: self.objective.vector(t.metrics) for k, t in done.items()})
        return [done[k] for k in keys]  # type: ignore[index]

    def by_mixture(self) -> dict[str, dict[str, float]]:
        """Per mixture label, the mean over seeds of the objective and each dimension's retention."""
        groups: dict[str, list[TrialRecord]] = defaultdict(list)
        for t in self.finished():
            groups[t.label].append(t)
        out = {}
        for label, trials in groups.items():
            row = {OBJECTIVE: _mean([t.metrics[OBJECTIVE] for t in trials]), "seeds": float(len(trials))}
            row.update({d: _mean([t.retention(d) for t in trials]) for d in self.dimensions})
            row["total"] = _mean([t.metrics.get("retention/total", math.nan) for t in trials])
            out[label] = row
        return out

    def table(self, *, sort: str = OBJECTIVE, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
        """(header, rows) per mixture: retention per dimension, total, objective (means over seeds)."""
        rows = sorted(self.by_mixture().items(), key=lambda kv: -_nan_low(kv[1].get(sort, math.nan)))
        header = ["mixture", *self.dimensions, "total"] + ([OBJECTIVE] if self.objective.kind == "weighted" else [])
        if any(r["seeds"] > 1 for _, r in rows):
            header.append("seeds")
        out = []
        for label, r in rows[:limit]:
            cells = [label, *(fixed(r[d]) for d in self.dimensions), fixed(r["total"])]
            if self.objective.kind == "weighted":
                cells.append(fixed(r[OBJECTIVE]))
            if "seeds" in header:
                cells.append(str(int(r["seeds"])))
            out.append(cells)
        return header, out

    def summary(self) -> dict[str, Any]:
        best = self.best()
        return {
            "sweep_id": self.sweep_id, "name": self.name, "objective": self.objective.kind, "dimensions": self.dimensions,
            "trials": len(self.trials), "finished": len(self.finished()),
            "best": None if best is None else {"run_id": best.run_id, "weights": best.weights, "metrics": _pick(best.metrics)},
            "pareto_front": [{"run_id": t.run_id, "weights": t.weights, "metrics": _pick(t.metrics)} for t in self.front()],
            "mixtures": self.by_mixture(),
            "confirmations": [{"roles": c.roles, "mixture": c.label, "seed": c.seed, "run_id": c.run_id, "ok": c.ok,
                               "metrics": _pick(c.metrics)} for c in self.confirmations],
        }


def _pick(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k == OBJECTIVE or k.startswith("retention/")}


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _nan_low(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
