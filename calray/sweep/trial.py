"""One Tune trial: a mixture -> a job for the pool -> ``tune.report`` of its retention.

The trial is a plain function run by Tune with a tiny CPU share and no GPU; it never loads
the model, it asks the pool (``PoolClient``, passed with ``tune.with_parameters``). Its config
is either ``{"u": {source: u}}`` (optuna / random: the flat-Dirichlet parameters of
``SimplexSpace``) or ``{"point": {source: weight}}`` (grid / list / single sources), with an
optional ``"seed"`` (the calibration seed, for scans over seeds). With fidelity levels the
trial evaluates at each growing item limit and reports after each one, so ASHA can stop it;
each level is a job of its own (it prunes again: in independent mode that is only the
solves, the statistics being cached), which the fidelity docs in the README weigh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calray.data import MetricsLevel
from calray.errors import CalrayError
from calray.evaluate import EvaluationSettings
from calray.prune import PruneSettings
from calray.sweep.objective import OBJECTIVE, Objective
from calray.sweep.simplex import SimplexSpace, mixture_label

if TYPE_CHECKING:
    from calray.cluster import Job, JobResult, PoolClient

RESULT_KEY = "calray/result"  # the JobResult as JSON, for the tracking callback's artifacts
LIMIT_KEY = "fidelity/limit"  # 0 = the full capability map (or its configured limit)


class TrialFailed(RuntimeError):
    """The pool returned a failed job (NaN, a Hessian no damping fixes): the trial errors."""


@dataclass(frozen=True)
class TrialTemplate:
    """Everything a trial needs, picklable and free of registries: the space, the settings
    every job of the sweep shares, the calibration settings, the objective and the fidelity
    limits. ``make_job`` fills in a trial's mixture, seed and item limit."""

    space: SimplexSpace
    prune: PruneSettings
    evaluation: EvaluationSettings
    calibration_metrics: MetricsLevel
    nsamples: int
    seqlen: int | None
    seed: int
    sampling: str | dict[str, str] | None
    objective: Objective
    limits: tuple[int | None, ...] = (None,)
    name: str = "trial"

    def weights(self, config: Mapping[str, Any]) -> dict[str, float]:
        """The mixture a trial config stands for."""
        if "u" in config:
            return self.space.weights(config["u"])
        if "point" in config:
            return dict(config["point"])
        raise CalrayError(f"trial config {dict(config)} has neither 'u' (search parameters) nor 'point' (a mixture)")

    def seed_of(self, config: Mapping[str, Any]) -> int:
        return int(config.get("seed", self.seed))

    def make_job(self, weights: Mapping[str, float], *, seed: int, limit: int | None, name: str) -> Job:
        from calray.cluster import Calibration, Job

        mixture = {s: w for s, w in weights.items() if w > 0}
        calibration = Calibration(mixture=mixture, nsamples=self.nsamples, seqlen=self.seqlen, seed=seed, sampling=self.sampling)
        evaluation = self.evaluation if limit is None else self.evaluation.model_copy(update={"limit": limit})
        return Job(calibration=calibration, prune=self.prune, evaluation=evaluation,
                   calibration_metrics=self.calibration_metrics, name=name)

    def report(self, result: JobResult, *, limit: int | None) -> dict[str, Any]:
        """What the trial reports: the result's flat metrics, the objective, the level's limit,
        and the whole result as JSON (for the tracking callback)."""
        metrics = result.metrics()
        out: dict[str, Any] = dict(metrics)
        out[OBJECTIVE] = self.objective.value(metrics)
        out[LIMIT_KEY] = limit or 0
        out[RESULT_KEY] = json.dumps(result.to_dict(), default=str)
        return out


def run_trial(config: dict[str, Any], *, template: TrialTemplate, pool: PoolClient) -> None:
    """The Tune trainable (wrap with ``tune.with_parameters(run_trial, template=..., pool=...)``)."""
    from ray import tune

    weights = template.weights(config)
    seed = template.seed_of(config)
    label = mixture_label(weights)
    for limit in template.limits:
        started = time.time()
        job = template.make_job(weights, seed=seed, limit=limit, name=f"{template.name}:{label}"[:120])
        result = pool.prune_and_evaluate(job)
        if not result.ok:
            error = result.error
            where, why = (error.layer, error.reason) if error is not None else (None, "no reason recorded")
            raise TrialFailed(f"mixture {label} failed at {where or 'pruning'}: {why}")
        report = template.report(result, limit=limit)
        report["time/trial"] = time.time() - started
        tune.report(report)
