"""A validated sweep: every check that can fail runs here, before Ray, the pool or MLflow.

``plan_sweep(config)`` imports the config's setup modules and sources file, resolves the
searched sources (globs, "did you mean"), builds the simplex space (bounds, fixed weights),
checks explicit mixtures, the capability map and its tasks, the objective's dimensions, the
model directory, the tracking URI and, when a cluster is known, the pool's resources. What
comes out is everything the driver needs, so a bad config is one clear ``CalrayError`` and
no MLflow run is ever left RUNNING by it.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from calray.atomic import check_writable
from calray.cluster import Calibration, Job, PoolConfig, checkpoint_files
from calray.config import validate
from calray.data import parse_mixture, select_sources
from calray.durable import result_path
from calray.errors import CalrayError
from calray.models import resolve_model
from calray.prune import PruneSettings
from calray.sweep.config import SweepConfig
from calray.sweep.objective import Objective
from calray.sweep.resources import check_pool_fits, node_types_from_ray, node_types_from_yaml
from calray.sweep.simplex import SimplexSpace, unique
from calray.sweep.tracking import tracking_uri
from calray.sweep.trial import TrialTemplate

log = logging.getLogger(__name__)


def run_setup(modules: tuple[str, ...] = (), sources_file: str | None = None) -> None:
    """What every process of a sweep runs first (driver, pool, shards): import each setup module
    and call its ``setup()`` if it has one (registering sources, tasks and maps; it must be
    idempotent), then apply the sources file."""
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise CalrayError(f"setup module {name!r} cannot be imported ({exc}); check setup_modules and PYTHONPATH") from None
        if callable(getattr(module, "setup", None)):
            module.setup()
    if sources_file:
        from calray.data import use_sources_file

        use_sources_file(sources_file)


@dataclass
class SweepPlan:
    """A checked config and what was derived from it."""

    config: SweepConfig
    model_dir: str
    space: SimplexSpace
    objective: Objective
    dimensions: list[str]
    pool_config: PoolConfig
    tracking_uri: str
    points: list[dict[str, float]] = field(default_factory=list)  # seed points, or every point of a fixed design
    seeds: list[int] = field(default_factory=list)

    @property
    def setup(self) -> functools.partial[None]:
        return functools.partial(run_setup, tuple(self.config.setup_modules), self.config.sources_file)

    def trial_template(self) -> TrialTemplate:
        c = self.config
        limits: tuple[int | None, ...] = tuple(c.fidelity.limits) if c.fidelity else (None,)
        return TrialTemplate(
            space=self.space, prune=self.prune_settings(), evaluation=c.evaluation.settings(),
            calibration_metrics=c.calibration.metrics,
            nsamples=c.calibration.nsamples, seqlen=c.calibration.seqlen, seed=c.calibration.seed,
            sampling=c.calibration.sampling, objective=self.objective, limits=limits, name=c.name,
        )

    def prune_settings(self) -> PruneSettings:
        """The config's prune settings with an ``anchor: uniform`` spelled out as the uniform mix
        of the sweep's sources (what the pool prunes as the anchor)."""
        prune = self.config.prune
        if prune.anchor != "uniform":
            return prune
        return prune.model_copy(update={"anchor": ",".join(f"{s}={w:.12g}" for s, w in self.space.uniform().items())})

    def probe_job(self) -> Job:
        """A job with the sweep's settings on its first source: what the dense evaluation and
        the up-front checks of the method run on."""
        return self.trial_template().make_job({self.space.sources[0]: 1.0}, seed=self.config.calibration.seed,
                                              limit=None, name=f"{self.config.name}:probe")

    @property
    def fixed_design(self) -> bool:
        """Grid, list and single-source scans: every trial known in advance."""
        return self.config.search.algorithm in ("grid", "list", "sources")

    @property
    def num_trials(self) -> int:
        if self.fixed_design:
            return len(self.points) * max(len(self.seeds), 1)
        return self.config.search.num_samples

    def common_params(self) -> dict[str, Any]:
        """The MLflow params every trial of the sweep shares."""
        c = self.config
        return {
            "model": c.model, "method": c.prune.method, "sparsity": c.prune.sparsity, "n_m": c.prune.n_m,
            "mode": c.prune.mode, **({"anchor": c.prune.anchor} if c.prune.anchor else {}),
            "nsamples": c.calibration.nsamples, "seqlen": c.calibration.seqlen,
            "sampling": c.calibration.sampling, "eval_seed": c.evaluation.eval_seed,
            "capability_map": c.evaluation.map_name,
            "limit": c.evaluation.limit, "algorithm": c.search.algorithm, "objective": c.objective.kind,
            **({"method_options": c.prune.method_options} if c.prune.method_options else {}),
        }


def check_outputs(config: SweepConfig) -> None:
    """The sweep's local output locations (Tune's storage, a sqlite store, exports) are writable,
    checked before the pool starts rather than found out after the first trials."""
    if "://" not in config.storage_path:  # a URI (s3://, gs://) is Tune's to reach
        check_writable(result_path(config.storage_path) / config.name, what="storage_path")
    uri = tracking_uri(config.tracking.uri)
    if uri.startswith("sqlite:///"):
        check_writable(uri[len("sqlite:///"):], what="the MLflow store")
    if config.export.top_k:
        check_writable(result_path(config.export.dir) / config.name, what="export.dir")


def plan_sweep(config: SweepConfig, *, check_cluster: bool = True) -> SweepPlan:
    """Validate ``config`` completely (see the module docstring) and derive the sweep's parts."""
    run_setup(tuple(config.setup_modules), config.sources_file)
    sources = select_sources(config.space.sources)
    space = SimplexSpace(
        tuple(sources),
        lower={s: b.min for s, b in config.space.bounds.items()},
        upper={s: b.max for s, b in config.space.bounds.items()},
        fixed=dict(config.space.fixed),
    )
    dimensions = list(config.evaluation.selected_map().dimensions)
    objective = Objective.create(config.objective.kind, dimensions, config.objective.weights)
    calibration = Calibration(mixture={sources[0]: 1.0}, nsamples=config.calibration.nsamples, seqlen=config.calibration.seqlen)
    validate(Job, {"calibration": calibration, "prune": config.prune}, "prune settings")  # the method and its options
    if config.prune.anchor is not None and config.prune.anchor != "uniform":
        parse_mixture(config.prune.anchor)  # a clear error now, not in every trial

    search = config.search
    points: list[dict[str, float]] = []
    if search.algorithm == "list":
        for m in search.mixtures:
            weights = space.uniform() if m == "uniform" else parse_mixture(m).as_dict()  # "uniform": every source alike
            points.append(space.check(weights))
        points = unique(points)
    elif search.algorithm == "grid":
        points = space.lattice(search.resolution)
    elif search.algorithm == "sources":
        points = space.vertices()
    elif search.seed_points:
        points = unique([*space.vertices(), space.uniform()])
        if len(points) > search.num_samples:
            log.warning("num_samples %d is below the %d seed points (every source alone and the uniform mix); "
                        "only the first %d run", search.num_samples, len(points), search.num_samples)
    seeds = list(config.calibration.seeds or []) if search.algorithm == "sources" else []

    model_dir = resolve_model(config.model)
    checkpoint_files(model_dir)  # a clear error for a missing or empty model directory
    check_outputs(config)
    pool_config = validate(PoolConfig, {**config.pool, "model": model_dir, "data": config.evaluation.data}, "pool section")
    if config.cluster_yaml:
        check_pool_fits(pool_config, node_types_from_yaml(config.cluster_yaml), where=f"cluster file {config.cluster_yaml}")
    if check_cluster:
        import ray

        if ray.is_initialized():
            check_pool_fits(pool_config, node_types_from_ray(), where="the running Ray cluster")
    return SweepPlan(config=config, model_dir=model_dir, space=space, objective=objective, dimensions=dimensions,
                     pool_config=pool_config, tracking_uri=tracking_uri(config.tracking.uri), points=points, seeds=seeds)
