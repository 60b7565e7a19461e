"""``calray demo``: the whole study on the embedded toy world, offline, on a laptop CPU.

1. a private local Ray (its own temp dir, no dashboard) and one pool serving every step;
2. the dense model's scores per capability dimension (an MLflow ``dense`` run);
3. the single-source scan: every toy source alone (an MLflow sweep, one run per source);
4. a small Optuna sweep over mixtures of the best source of each dimension and the
   general-text default (the toy's C4), told the scan's results so it never re-runs them;
5. the confirmation (``calray.sweep.confirm``): the sweep's top mixtures, the uniform mix, the
   best single source and the default pruned again in sequential mode (the paper's setting)
   with several calibration seeds on every item; the comparison the paper makes (best mixture
   vs uniform mix vs best single source vs the default) comes from these runs only.

The search runs in independent mode (each source's statistics computed once on the windows
sequential mode would allocate it, mixed per trial) on item limits, which keeps it within
minutes; its headlines (best mixture, uniform mix, best single source, the default) are then
confirmed in sequential mode, the paper's setting, over several calibration seeds and every
item (the fast mode orders mixtures only partly as sequential mode does:
analysis/mode_agreement.md). ``DemoSettings`` holds every knob.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from calray.config import StrictModel
from calray.sweep.config import SweepConfig, load_sweep_config
from calray.sweep.results import SweepResult
from calray.sweep.tracking import BEST_MIXTURE, BEST_SINGLE, DEFAULT_EXPERIMENT, UNIFORM

log = logging.getLogger("calray.demo")


class DemoSettings(StrictModel):
    """What the demo runs (defaults: the toy model and world)."""

    model: str = "toy"
    setup_modules: list[str] = []
    sources: list[str] = ["toy:*"]
    default_source: str = "toy:web"
    capability_map: str | dict[str, Any] = "toy"
    limit: int | None = Field(default=50, ge=1)  # the search's items; the confirmation scores every item
    max_new_tokens: int | None = Field(default=None, ge=1)  # None: each task's own (code needs 128)
    method: str = "sparsegpt"
    sparsity: float = 0.6  # the study's target: at 0.5 the toy sources differ less than the search's items can tell
    nsamples: int = Field(default=32, ge=1)
    seqlen: int | None = 256
    sweep_trials: int = Field(default=6, ge=1)  # 6 and 50 items: the demo with its confirmation stays < 10 min
    confirm_top_k: int = Field(default=3, ge=1)  # confirmation: never off in the demo
    confirm_seeds: int = Field(default=3, ge=1)
    pipelines: int = Field(default=2, ge=1)
    cpus_per_shard: float = 0.95  # two shards and the trials' slivers fit in two CPUs
    eval_batch_size: int = 16
    seed: int = 0


@dataclass
class DemoReport:
    dense: dict[str, dict[str, float]]
    scan: SweepResult
    sweep: SweepResult
    default_source: str
    seconds: float

    def rows(self) -> list[tuple[str, str | None]]:
        """(role, confirmed mixture) for the paper's comparison: the best mixture found, the
        uniform mix of the swept sources, the best single source, and the general-text default;
        None where no confirmation run of that role finished."""
        roles = [BEST_MIXTURE, UNIFORM, BEST_SINGLE, f"default ({self.default_source})"]
        confirmed = {role: c.label for c in self.sweep.confirmations if c.ok for role in c.roles}
        return [(role, confirmed.get(role)) for role in roles]


def sweep_config(settings: DemoSettings, *, name: str, sources: list[str], tracking_uri: str, experiment: str,
                 storage: str, **search: Any) -> SweepConfig:
    return load_sweep_config(data={
        "name": name, "model": settings.model, "setup_modules": settings.setup_modules,
        "pool": {"pipelines": settings.pipelines, "stages": 1, "cpus_per_shard": settings.cpus_per_shard,
                 "eval_batch_size": settings.eval_batch_size, "device": "cpu"},
        "pool_name": "calray-demo",
        "space": {"sources": sources},
        "search": {"seed": settings.seed, **search},
        "prune": {"method": settings.method, "sparsity": settings.sparsity, "mode": "independent"},
        "confirm": {"top_k": settings.confirm_top_k, "seeds": settings.confirm_seeds},
        "calibration": {"nsamples": settings.nsamples, "seqlen": settings.seqlen, "seed": settings.seed},
        "evaluation": {"capability_map": settings.capability_map, "limit": settings.limit,
                       "max_new_tokens": settings.max_new_tokens},
        "tracking": {"uri": tracking_uri, "experiment": experiment},
        "storage_path": storage,
    })


def sweep_sources(scan: SweepResult, default: str) -> list[str]:
    """The best single source of each dimension, and the default: what the mixture sweep mixes."""
    done = scan.finished()
    chosen = [max(done, key=lambda t: _value(t.retention(d))).label for d in scan.dimensions if done]
    by_total = [t.label for t in sorted(done, key=lambda t: -_value(t.metrics.get("retention/total", math.nan)))]
    mixed = list(dict.fromkeys([*chosen, default]))
    return mixed if len(mixed) > 1 else list(dict.fromkeys([*mixed, *by_total]))[:2]  # a mixture needs two sources


def run_demo(settings: DemoSettings, *, tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT) -> DemoReport:
    """Run the demo (see the module docstring); Ray is started here and stopped at the end
    unless this process was already connected."""
    import ray

    from calray.cluster import init_ray, start_pool
    from calray.sweep.driver import record_dense, run_sweep
    from calray.sweep.plan import plan_sweep
    from calray.sweep.tracking import Tracker

    started = time.time()
    storage = tempfile.mkdtemp(prefix="calray-demo-")  # Tune's experiment dirs (the records are in MLflow)
    own_ray = not ray.is_initialized()
    if own_ray:
        ray_tmp = tempfile.mkdtemp(prefix="calray-ray-", dir="/tmp")  # short: socket paths have a length limit
        log.info("starting a private local Ray (%s)", ray_tmp)
        init_ray(num_cpus=2, include_dashboard=False, _temp_dir=ray_tmp, log_to_driver=False, namespace="calray-demo")
    try:
        probe = sweep_config(settings, name="demo-scan", sources=settings.sources, tracking_uri=tracking_uri,
                             experiment=experiment, storage=storage, algorithm="sources")
        scan_plan = plan_sweep(probe)
        sources = list(scan_plan.space.sources)
        if settings.default_source not in sources:
            from calray.errors import CalrayError

            raise CalrayError(f"the demo's default source {settings.default_source!r} is not among its sources {sources}")
        log.info("step 1/4: starting the pool (%d pipelines on the CPU) for %s", settings.pipelines, scan_plan.model_dir)
        pool = start_pool(scan_plan.pool_config, name="calray-demo", setup=scan_plan.setup)
        try:
            log.info("step 2/4: the dense model's scores on %s", scan_plan.dimensions)
            record_dense(Tracker(tracking_uri, experiment), pool, scan_plan, pool.capacity())
            log.info("step 3/4: the single-source scan: %d sources alone, %s at %g sparsity", len(sources),
                     settings.method, settings.sparsity)
            scan = run_sweep(probe, pool=pool, plan=scan_plan)
            mixed = sweep_sources(scan, settings.default_source)
            log.info("step 4/4: an Optuna sweep of %d trials over mixtures of %s, then its confirmation", settings.sweep_trials,
                     ", ".join(mixed))
            known = [({t.label: 1.0}, t.metrics["objective"]) for t in scan.finished() if t.label in mixed]
            best = scan.best()
            references = {f"default ({settings.default_source})": {settings.default_source: 1.0},
                          **({BEST_SINGLE: best.weights} if best is not None else {})}
            sweep = run_sweep(
                sweep_config(settings, name="demo-sweep", sources=mixed, tracking_uri=tracking_uri, experiment=experiment,
                             storage=storage, algorithm="optuna", num_samples=settings.sweep_trials),
                pool=pool, known=known, references=references,
            )
        finally:
            pool.shutdown()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if own_ray:
            ray.shutdown()
            shutil.rmtree(ray_tmp, ignore_errors=True)
    return DemoReport(dense=scan.dense, scan=scan, sweep=sweep, default_source=settings.default_source,
                      seconds=time.time() - started)


def _value(x: float) -> float:
    return x if math.isfinite(x) else -math.inf

