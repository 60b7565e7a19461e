"""What a client asks the pool for (``Job``) and what it gets back (``JobResult``).

A job is one trial of the study: calibration windows (a mixture of registered sources, or
explicit token windows), a pruning method and target, a mode, and the capability map to
evaluate on. It is validated where it is built, in the client, so a bad trial config fails
before it reaches a GPU::

    job = Job(calibration=Calibration(mixture="c4=0.5,gsm8k=0.5", nsamples=128, seqlen=2048),
              prune={"method": "sparsegpt", "sparsity": 0.6, "mode": "independent"},
              evaluation={"capability_map": "paper", "limit": 100})
    result = pool.prune_and_evaluate(job)
    result.total, result.retention["math"], result.metrics()     # what tune.report takes

Modes (``PruneSettings.mode``): ``sequential`` prunes each block on the outputs of the
already-pruned blocks before it (the paper's setting; its windows are the mixture's
``nsamples`` windows allocated to sources by weight). ``independent`` prunes every block from statistics of the *dense* model's
activations (or, with ``prune.anchor``, of an anchor mixture's sequentially pruned copy),
H(mix) = sum_s (n_s / nsamples) H_s with each source's H computed once on the n_s windows
sequential mode allocates it, so a mixture with a known allocation costs only the solves and
the evaluation.

``calibration_metrics`` asks the pool for the information metrics of the job's calibration
set (``calray.data``'s definitions) in ``result.calibration["metrics"]``: ``tokens`` the
token-level ones, ``all`` (the default, as in a sweep config) also the perplexity under the
dense model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import ConfigDict, Field, field_validator, model_validator

from calray.config import StrictModel
from calray.data import MetricsLevel
from calray.errors import CalrayError
from calray.evaluate import EvaluationSettings
from calray.prune import PruneSettings


class Calibration(StrictModel):
    """A mixture of registered sources (windows built by the pool, once per distinct setting)
    or explicit ``windows`` (nsamples, seqlen) token ids. ``seqlen`` None: the model's
    context capped at 2048 (``calray.prune.resolve_seqlen``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    mixture: str | dict[str, float] | None = None
    nsamples: int = Field(default=128, ge=1)
    seqlen: int | None = Field(default=None, ge=2)
    seed: int = 0
    sampling: str | dict[str, str] | None = None
    windows: torch.Tensor | None = None

    @field_validator("mixture")
    @classmethod
    def _weights(cls, mixture: str | dict[str, float] | None) -> str | dict[str, float] | None:
        if isinstance(mixture, dict):
            if not mixture:
                raise ValueError("a mixture needs at least one source")
            for name, w in mixture.items():
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise ValueError(f"weight of {name!r} is {w!r}; weights must be finite numbers >= 0")
            if sum(mixture.values()) <= 0:
                raise ValueError("a mixture needs a positive weight")
        return mixture

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: torch.Tensor | None) -> torch.Tensor | None:
        if windows is None:
            return None
        if not isinstance(windows, torch.Tensor) or windows.dim() != 2 or windows.dtype.is_floating_point:
            raise ValueError("windows must be an integer tensor of token ids (nsamples, seqlen)")
        return windows.to(torch.long)

    @model_validator(mode="after")
    def _one_origin(self) -> Calibration:
        if (self.mixture is None) == (self.windows is None):
            raise ValueError("give exactly one of mixture (e.g. 'c4=0.5,gsm8k=0.5') or windows (a token tensor)")
        if self.windows is not None:
            object.__setattr__(self, "nsamples", int(self.windows.shape[0]))
            object.__setattr__(self, "seqlen", int(self.windows.shape[1]))
        return self


class Job(StrictModel):
    """One prune-and-evaluate request; see the module docstring. ``prune`` and ``evaluation``
    are the same models the sweep config's sections are (a dict is validated into them)."""

    calibration: Calibration
    prune: PruneSettings
    evaluation: EvaluationSettings = EvaluationSettings()
    calibration_metrics: MetricsLevel = "all"
    name: str = ""

    @model_validator(mode="after")
    def _known_method(self) -> Job:
        try:
            self.prune.pruning_method()  # registered, and takes the options given
        except CalrayError as exc:
            raise ValueError(str(exc)) from None
        return self


@dataclass(frozen=True)
class JobError:
    """Why a job failed for a reason of its own: the layer (None when not one layer's), the
    reason, and the exception's type."""

    reason: str
    layer: str | None = None
    kind: str = "PruningError"


@dataclass(frozen=True)
class JobResult:
    """Everything one job produced. ``retention`` is per dimension (x100; None where the
    dense model is at chance), ``total`` their mean; ``scores`` / ``dense_scores`` map task ->
    metric -> value; ``tasks`` has one row per task (dense, pruned, retention, item count,
    standard error); ``item_scores`` / ``dense_item_scores`` map task -> what each item
    contributed (``TaskScore.items``, for intervals);
    ``pruning`` the pruning report's totals; ``timings`` seconds per phase; ``attempts`` how
    many times the job ran (more than 1 after a shard crashed)."""

    name: str
    status: Literal["ok", "failed"]
    mode: str
    retention: dict[str, float | None] = field(default_factory=dict)
    total: float | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    dense_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    item_scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    dense_item_scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    pruning: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: JobError | None = None
    attempts: int = 1
    pipeline: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metrics(self) -> dict[str, float]:
        """Flat numbers for ``tune.report`` / MLflow: retention per dimension and total, every
        task metric, each task's item count and standard error, calibration metrics, pruning
        totals and timings (undefined retentions are left out)."""
        out: dict[str, float] = {}
        if self.total is not None:
            out["retention/total"] = self.total
        out.update({f"retention/{d}": v for d, v in self.retention.items() if v is not None})
        for task, metrics in self.scores.items():
            out.update({f"score/{task}/{m}": v for m, v in metrics.items() if v is not None})
        for row in self.tasks:
            out[f"items/{row['task']}"] = float(row["n"])
            if row.get("stderr") is not None:
                out[f"stderr/{row['task']}"] = row["stderr"]
        out.update({f"calibration/{k}": float(v) for k, v in self.calibration.get("metrics", {}).items()})
        out.update({f"pruning/{k}": float(v) for k, v in self.pruning.items() if isinstance(v, (int, float))})
        out.update({f"time/{k}": v for k, v in self.timings.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
