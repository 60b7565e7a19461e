"""The Tune side of a search: parameter space, search algorithm, scheduler, trial count.

- ``optuna``: Ray Tune's ``OptunaSearch`` over the flat-Dirichlet parameters ``u``, with
  Optuna's multivariate TPE (seeded; multi-objective for a Pareto objective). Seed points
  (every source alone, the uniform mix) are enqueued first; mixtures already measured
  elsewhere (``known``) are told to the study without being run again.
- ``random``: Tune's basic generator sampling the u's uniformly (a flat Dirichlet), seeded,
  after the same seed points.
- ``grid`` / ``list`` / ``sources``: a ``grid_search`` over explicit mixtures (and seeds).

Concurrency is capped at the pool's capacity: more trials in flight would only queue in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ray import tune
from ray.tune.search import ConcurrencyLimiter

from calray.sweep.objective import OBJECTIVE
from calray.sweep.plan import SweepPlan
from calray.sweep.simplex import U_LOW


@dataclass
class Search:
    param_space: dict[str, Any]
    search_alg: Any  # a Tune searcher, or None for the basic generator
    scheduler: Any
    num_samples: int
    max_concurrent: int
    metric: str | None
    mode: str | None


def flat_point(u: Mapping[str, float]) -> dict[str, float]:
    """A u-point as Optuna's flattened parameter names (``u/<source>``)."""
    return {f"u/{s}": float(v) for s, v in u.items()}


def build_search(plan: SweepPlan, *, max_concurrent: int, known: Sequence[tuple[Mapping[str, float], float]] = ()) -> Search:
    """Everything ``tune.Tuner`` needs for ``plan``'s algorithm (see the module docstring)."""
    config = plan.config
    search = config.search
    objective = plan.objective
    pareto = objective.kind == "pareto"
    metric, mode = (None, None) if pareto else (OBJECTIVE, "max")  # for Tune's basic generator; Optuna gets its own
    scheduler = None
    if config.fidelity is not None:
        from ray.tune.schedulers import ASHAScheduler

        levels = len(config.fidelity.limits)
        scheduler = ASHAScheduler(time_attr="training_iteration", metric=OBJECTIVE, mode="max", max_t=levels,
                                  grace_period=1, reduction_factor=config.fidelity.reduction_factor)
        metric, mode = None, None  # the scheduler holds them
    if plan.fixed_design:
        space: dict[str, Any] = {"point": tune.grid_search(plan.points)}
        if plan.seeds:
            space["seed"] = tune.grid_search(plan.seeds)
        return Search(space, None, scheduler, 1, max_concurrent, metric, mode)

    space = {"u": {s: tune.uniform(U_LOW, 1.0) for s in plan.space.free}}
    seeds = [plan.space.point(p) for p in plan.points][: search.num_samples]
    if search.algorithm == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        generator = BasicVariantGenerator(points_to_evaluate=[{"u": p} for p in seeds], random_state=search.seed,
                                          max_concurrent=max_concurrent)
        return Search(space, generator, scheduler, search.num_samples, max_concurrent, metric, mode)

    import optuna
    from optuna.distributions import FloatDistribution
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {f"u/{s}": FloatDistribution(U_LOW, 1.0) for s in plan.space.free}
    sampler = optuna.samplers.TPESampler(multivariate=True, seed=search.seed, n_startup_trials=max(len(seeds), 5))
    known_keys = {tuple(sorted(plan.space.check(w).items())) for w, _ in known}
    enqueued = [  # seeds may be cut to num_samples: the points beyond them are not run
        flat_point(u) for point, u in zip(plan.points, seeds, strict=False) if tuple(sorted(point.items())) not in known_keys
    ]
    searcher = OptunaSearch(
        distributions,
        metric=objective.metrics if pareto else OBJECTIVE,
        mode=["max"] * len(objective.metrics) if pareto else "max",
        points_to_evaluate=enqueued or None,
        sampler=sampler,
        seed=search.seed,
    )
    for weights, value in known:  # measured already (e.g. by a single-source scan): told, not run again
        searcher.add_evaluated_point(flat_point(plan.space.point(weights)), value)
    return Search({}, ConcurrencyLimiter(searcher, max_concurrent=max_concurrent), scheduler, search.num_samples,
                  max_concurrent, None, None)
