"""Mixture sweeps: a Ray Tune driver over calibration-mixture weights, tracked in MLflow.

A sweep searches weights on the probability simplex over chosen calibration sources
(``SimplexSpace``: a flat Dirichlet through independent uniforms, optional bounds and fixed
sources) with Optuna's TPE, random Dirichlet draws, a lattice, an explicit list, or every
source alone. Each trial is a plain function that sends one job to the pool of shard actors
(``calray.cluster``) and reports retention per capability dimension; the driver records the
sweep, every trial and the dense baseline in MLflow and can resume an interrupted sweep::

    from calray.cluster import init_ray
    from calray.sweep import load_sweep_config, run_sweep

    init_ray()
    result = run_sweep(load_sweep_config("jobs/configs/toy.yaml", overrides=["search.num_samples=8"]))
    print(result.best().weights, result.front())

``export_run`` re-prunes a recorded trial from its params and saves the model. Layering:
imports calray.cluster (and through it data, evaluate, prune); only the CLI and jobs/ import
this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calray.sweep.config import SweepConfig, load_sweep_config
    from calray.sweep.driver import find_resumable, run_sweep
    from calray.sweep.objective import Objective, pareto_front
    from calray.sweep.plan import SweepPlan, plan_sweep, run_setup
    from calray.sweep.results import SweepResult, TrialRecord
    from calray.sweep.simplex import SimplexSpace, mixture_label
    from calray.sweep.tracking import Tracker, tracking_uri

# The public names and their modules, imported on first use: calray.analysis reads the
# records through the light modules (simplex, objective, tracking) without torch or Ray.
_EXPORTS = {
    "SweepConfig": "config", "load_sweep_config": "config",
    "find_resumable": "driver", "run_sweep": "driver",
    "Objective": "objective", "pareto_front": "objective",
    "SweepPlan": "plan", "plan_sweep": "plan", "run_setup": "plan",
    "SweepResult": "results", "TrialRecord": "results",
    "SimplexSpace": "simplex", "mixture_label": "simplex",
    "Tracker": "tracking", "tracking_uri": "tracking",
}
__all__ = [
    "Objective",
    "SimplexSpace",
    "SweepConfig",
    "SweepPlan",
    "SweepResult",
    "Tracker",
    "TrialRecord",
    "find_resumable",
    "load_sweep_config",
    "mixture_label",
    "pareto_front",
    "plan_sweep",
    "run_setup",
    "run_sweep",
    "tracking_uri",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'calray.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"calray.sweep.{_EXPORTS[name]}"), name)
