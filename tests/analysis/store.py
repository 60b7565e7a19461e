"""MLflow stores with known numbers, written the way a sweep writes them.

Runs go through the sweep's own ``Tracker`` with its tags, and a trial's mixture params come
from ``calray.sweep.callbacks.mixture_params`` (the function the tracking callback uses), so the
analysis reads exactly the schema a real sweep records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from calray.evaluate import EvaluationSettings
from calray.prune import PruneSettings
from calray.sweep.callbacks import mixture_params
from calray.sweep.objective import Objective
from calray.sweep.simplex import SimplexSpace
from calray.sweep.tracking import (
    KIND,
    PARENT,
    SOURCE_DIMENSIONS,
    SWEEP_ID,
    TRIAL_KEY,
    Tracker,
)
from calray.sweep.trial import TrialTemplate

SETTING = {"model": "toy", "method": "sparsegpt", "sparsity": 0.6, "n_m": None, "mode": "independent", "nsamples": 8,
           "seqlen": 32, "sampling": None, "eval_seed": 0, "capability_map": "toy", "limit": None, "objective": "total"}


@dataclass
class Trial:
    weights: dict[str, float]
    seed: int
    retention: dict[str, float]  # NaN / absent: the dimension is undefined (not logged)
    info: dict[str, float]  # NaN / absent: not logged
    status: str = "FINISHED"
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        values = [v for v in self.retention.values() if math.isfinite(v)]
        return sum(values) / len(values)


def record_sweep(tracker: Tracker, *, name: str, sweep_id: str, algorithm: str, sources: Sequence[str],
                 tags: Mapping[str, str], trials: Sequence[Trial], setting: Mapping[str, Any] | None = None) -> str:
    """A parent run and its trial runs, as the driver and the tracking callback write them."""
    setting = {**SETTING, **(setting or {}), "algorithm": algorithm}
    parent = tracker.get_or_create(SWEEP_ID, sweep_id, name=f"{name} {sweep_id}",
                                   tags={KIND: "sweep", SOURCE_DIMENSIONS: json.dumps({s: tags[s] for s in sources})},
                                   params={**setting, "num_trials": len(trials), "sources": list(sources)})
    dims = sorted({d for t in trials for d in t.retention})
    template = TrialTemplate(space=SimplexSpace(tuple(sources)), prune=PruneSettings(sparsity=0.5),
                             evaluation=EvaluationSettings(), calibration_metrics="all", nsamples=setting["nsamples"],
                             seqlen=setting["seqlen"], seed=0, sampling=None, objective=Objective.create("total", dims))
    for index, t in enumerate(trials):
        _, params = mixture_params(template, {"point": {s: t.weights.get(s, 0.0) for s in sources}, "seed": t.seed})
        run = tracker.get_or_create(TRIAL_KEY, f"{sweep_id}/t{index}", name=f"t{index}",
                                    tags={PARENT: parent, KIND: "trial", SWEEP_ID: sweep_id}, params={**setting, **params})
        metrics = {f"retention/{d}": v for d, v in t.retention.items()}
        metrics["retention/total"] = t.total
        metrics["objective"] = t.total
        metrics.update({f"calibration/{m}": v for m, v in t.info.items()})
        metrics.update(t.extra)
        tracker.log_metrics(run, metrics)  # drops NaN, as for a real trial
        tracker.finish(run, t.status)
    tracker.finish(parent)
    return parent
