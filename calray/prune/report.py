"""What pruning did to each linear, saved as ``pruning_report.json`` beside the model.

A sparse checkpoint stored dense says nothing about what was pruned; the report does: per
linear its shape, achieved sparsity, relative layer-output error on the calibration inputs,
the method's numbers (damping actually used, dead inputs) and time, plus totals and the run's
configuration.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from calray.atomic import write_atomic

REPORT_NAME = "pruning_report.json"


@dataclass
class LinearReport:
    """One pruned linear. ``shape`` is (out, in); ``layer_error`` is None when not measured."""

    name: str
    block: int
    shape: tuple[int, int]
    zeros: int
    layer_error: float | None
    seconds: float
    info: dict[str, float] = field(default_factory=dict)

    @property
    def sparsity(self) -> float:
        return self.zeros / (self.shape[0] * self.shape[1])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shape"] = list(self.shape)
        out["sparsity"] = self.sparsity
        return out


@dataclass
class PruningReport:
    """Every pruned linear, the wall time and the configuration that produced them."""

    linears: list[LinearReport]
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        params = sum(r.shape[0] * r.shape[1] for r in self.linears)
        zeros = sum(r.zeros for r in self.linears)
        errors = [r.layer_error for r in self.linears if r.layer_error is not None]
        return {
            "linears": len(self.linears),
            "parameters": params,
            "zeros": zeros,
            "sparsity": zeros / params if params else 0.0,
            "mean_layer_error": sum(errors) / len(errors) if errors else None,
            "seconds": self.seconds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "totals": self.totals(),
            "linears": [r.to_dict() for r in self.linears],
        }

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / REPORT_NAME
        return write_atomic(path, json.dumps(_finite(self.to_dict()), indent=2) + "\n")


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: write them as strings rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
