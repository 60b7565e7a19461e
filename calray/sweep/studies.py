"""Studies built from sweeps: the single-source scan, the scaling study, and smoke modes.

- ``single_source_config``: every searched source alone, once per calibration seed (the
  paper's 15-source scan), as a sweep with algorithm ``sources``;
- ``ScalingConfig`` / ``run_scaling``: the same sweep (usually a scan) over several models and
  pruning targets; one pool per model serves all its targets;
- ``smoke_overrides``: what ``--smoke-test`` changes in any config so that it runs in a minute
  (few trials, few windows and items, one CPU pipeline, a temporary MLflow store).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from calray.config import StrictModel
from calray.errors import CalrayError
from calray.sweep.config import SweepConfig, load_sweep_config
from calray.sweep.results import SweepResult

log = logging.getLogger("calray.sweep")


def smoke_overrides(config: SweepConfig | None = None, *, where: str | None = None) -> list[str]:
    """``KEY=VALUE`` overrides that shrink a sweep to a smoke run, recorded under ``where`` (a
    new temporary directory by default)."""
    where = where or tempfile.mkdtemp(prefix="calray-smoke-")
    out = [
        "search.num_samples=3", "calibration.nsamples=4", "calibration.seqlen=64", "evaluation.limit=2",
        "evaluation.max_new_tokens=8", "pool.pipelines=1", "pool.stages=1", "pool.device=cpu", "export.top_k=0",
        "confirm.top_k=1", "confirm.seeds=2", "confirm.limit=2",
        f"tracking.uri=sqlite:///{Path(where) / 'mlflow.db'}", f"storage_path={Path(where) / 'runs'}",
    ]
    if config is not None and config.search.algorithm == "sources":
        out.append("calibration.seeds=[0]")
    if config is not None and config.fidelity is not None:
        out.append("fidelity=null")
    return out


def single_source_config(config: SweepConfig, *, seeds: list[int] | None = None) -> SweepConfig:
    """``config`` as a scan: every searched source alone, for each of ``seeds`` (default: the
    config's ``calibration.seeds``, else its one seed)."""
    seeds = seeds or config.calibration.seeds or [config.calibration.seed]
    search = config.search.model_copy(update={"algorithm": "sources", "mixtures": []})
    calibration = config.calibration.model_copy(update={"seeds": list(seeds)})
    return config.model_copy(update={"search": search, "calibration": calibration, "fidelity": None})


class ScalingConfig(StrictModel):
    """``sweep``: a sweep config (any fields but ``model``); run once per model and target.
    ``mixtures`` (e.g. ``[uniform]``, or ``{toy:gsm: 0.5, toy:web: 0.5}``): also run these
    mixtures of the sweep's sources on every model and target, as a second sweep (algorithm
    ``list``, the first calibration seed) named ``<sweep>-mix``."""

    models: list[str] = Field(min_length=1)
    sparsities: list[float] | None = None
    n_m: list[str] | None = None
    mixtures: list[dict[str, float] | str] = []
    sweep: dict[str, Any]

    @field_validator("sweep")
    @classmethod
    def _no_model(cls, sweep: dict[str, Any]) -> dict[str, Any]:
        if "model" in sweep:
            raise ValueError("give the models in `models`, not sweep.model")
        return sweep

    def targets(self) -> list[dict[str, Any]]:
        """The pruning targets, as ``prune`` fields."""
        out = [{"sparsity": s, "n_m": None} for s in self.sparsities or []] + [
            {"sparsity": None, "n_m": p} for p in self.n_m or []
        ]
        if not out:
            raise CalrayError("a scaling study needs `sparsities` (e.g. [0.5, 0.6]) or `n_m` (e.g. ['2:4'])")
        return out


def scaling_sweeps(path: str | Path, *, overrides: Sequence[str] = ()) -> list[SweepConfig]:
    """Every (model, target) sweep of a scaling config, each validated (pydantic) up front."""
    from calray.config import expand_vars, read_yaml_mapping, validate

    path = Path(path)
    study = validate(ScalingConfig, expand_vars(read_yaml_mapping(path, "scaling config")), f"scaling config {str(path)!r}")
    sweeps = []
    for model in study.models:
        for target in study.targets():
            data = dict(study.sweep)
            data["model"] = model
            data["prune"] = {**data.get("prune", {}), **target}
            short = Path(model).name.replace(":", "-")
            data["name"] = f"{data.get('name', 'scaling')}-{short}-{target['sparsity'] or target['n_m'].replace(':', 'of')}"
            sweeps.append(load_sweep_config(data=data, overrides=overrides, base=path.resolve().parent))
            if study.mixtures:
                sweeps.append(load_sweep_config(data=mixture_sweep(data, study.mixtures), overrides=overrides,
                                                base=path.resolve().parent))
    return sweeps


def mixture_sweep(data: dict[str, Any], mixtures: list[dict[str, float] | str]) -> dict[str, Any]:
    """The sweep ``data`` running only ``mixtures`` (algorithm ``list``) with its first seed."""
    calibration = dict(data.get("calibration", {}))
    seeds = calibration.pop("seeds", None)
    if seeds:
        calibration["seed"] = seeds[0]
    search = {k: v for k, v in data.get("search", {}).items() if k in ("seed", "max_concurrent")}
    return {**data, "name": f"{data['name']}-mix", "calibration": calibration,
            "search": {**search, "algorithm": "list", "mixtures": list(mixtures)}}


def run_scaling(sweeps: list[SweepConfig]) -> list[SweepResult]:
    """Run the sweeps in order, one pool per model (reused across its targets)."""
    from calray.cluster import start_pool
    from calray.sweep.driver import run_sweep
    from calray.sweep.plan import plan_sweep

    plans = [plan_sweep(c) for c in sweeps]  # every config checked before the first pool starts
    results: list[SweepResult] = []
    pool, pool_model = None, None
    try:
        for index, plan in enumerate(plans):
            if plan.model_dir != pool_model:
                if pool is not None:
                    pool.shutdown()
                log.info("scaling study: pool for %s", plan.config.model)
                pool = start_pool(plan.pool_config, name=f"{plan.config.pool_name}-{index}", setup=plan.setup)
                pool_model = plan.model_dir
            results.append(run_sweep(plan.config, pool=pool, plan=plan))
    finally:
        if pool is not None:
            pool.shutdown()
    return results
