"""The one sweep config shared by ``calray sweep``, ``calray demo``, the jobs and the tests.

```yaml
name: toy-mix                       # Tune experiment and MLflow parent run name
model: path/to/model                # or tiny:llama (a random test model)
pool: {pipelines: 1, stages: 2}     # calray.cluster.PoolConfig's fields except model and data
setup_modules: [my_project.world]   # imported in every process: they register sources / tasks
space:
  sources: ["toy:*"]                # names or globs of registered calibration sources
  bounds: {"toy:web": {min: 0.1, max: 0.5}}
  fixed: {"toy:random": 0.0}
search: {algorithm: optuna, num_samples: 24, seed: 0}      # or random | grid | list | sources
objective: {kind: total}            # or {kind: weighted, weights: {math: 2, code: 1}} | {kind: pareto}
prune: {method: sparsegpt, sparsity: 0.6, mode: independent}   # calray.prune.PruneSettings
calibration: {nsamples: 128, seqlen: 2048, seed: 0}
evaluation: {capability_map: toy, limit: 50}                   # calray.evaluate.EvaluationSettings
fidelity: {limits: [10, 40], top_k: 3}                    # optional: ASHA over growing item limits
confirm: {top_k: 3, seeds: 3}       # the headlines re-run sequentially (null or top_k 0: none)
tracking: {uri: sqlite:///mlflow.db, experiment: calray}
```

Every field has a default except ``model`` and ``space.sources``. ``plan_sweep`` (plan.py) validates
what pydantic cannot (registered sources, tasks and maps, bounds, explicit mixtures,
resources) before anything runs, so a bad config never leaves a half-started sweep.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from calray.config import StrictModel, expand_vars, read_yaml_mapping, set_option, validate
from calray.data import MetricsLevel
from calray.evaluate import EvaluationSettings
from calray.models import is_model_name
from calray.prune import PruneSettings
from calray.sweep.tracking import DEFAULT_EXPERIMENT

Algorithm = Literal["optuna", "random", "grid", "list", "sources"]


class Bound(StrictModel):
    min: float = Field(default=0.0, ge=0.0, le=1.0)
    max: float = Field(default=1.0, ge=0.0, le=1.0)


class SpaceConfig(StrictModel):
    """The searched sources (names or globs), optional per-source bounds and fixed weights."""

    sources: list[str] = Field(min_length=1)
    bounds: dict[str, Bound] = {}
    fixed: dict[str, float] = {}


class SearchConfig(StrictModel):
    """How mixtures are proposed.

    - ``optuna``: multivariate TPE (seeded) over the flat-Dirichlet parameters;
    - ``random``: uniform mixtures (flat Dirichlet), seeded;
    - ``grid``: every mixture with weights k / ``resolution`` (within the bounds);
    - ``list``: the explicit ``mixtures`` (``uniform``: every source at the same weight);
    - ``sources``: every source alone, once per calibration seed (the single-source scan).

    ``num_samples`` counts the optuna / random trials, seed points included; with
    ``seed_points`` the first trials are every source alone and the uniform mix.
    """

    algorithm: Algorithm = "optuna"
    num_samples: int = Field(default=16, ge=1)
    seed: int = 0
    seed_points: bool = True
    resolution: int = Field(default=4, ge=1)
    mixtures: list[dict[str, float] | str] = []
    max_concurrent: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if self.algorithm == "list" and not self.mixtures:
            raise ValueError("algorithm 'list' needs `mixtures` (e.g. [{c4: 0.5, gsm8k: 0.5}, 'gsm8k=1'])")
        if self.mixtures and self.algorithm != "list":
            raise ValueError(f"`mixtures` is only read by algorithm 'list', not {self.algorithm!r}")
        return self


class ObjectiveConfig(StrictModel):
    """What a trial maximises: ``total`` retention (the mean over dimensions), a ``weighted``
    mean of dimension retentions, or ``pareto``: every dimension at once (the result is the
    non-dominated set)."""

    kind: Literal["total", "weighted", "pareto"] = "total"
    weights: dict[str, float] = {}

    @model_validator(mode="after")
    def _weights(self) -> ObjectiveConfig:
        if self.kind == "weighted":
            if not self.weights:
                raise ValueError("a weighted objective needs `weights` per dimension, e.g. {math: 2, code: 1}")
            for dim, w in self.weights.items():
                if not math.isfinite(w) or w < 0:
                    raise ValueError(f"objective weight of {dim!r} is {w}; weights must be finite and >= 0")
            if sum(self.weights.values()) <= 0:
                raise ValueError("objective weights need a positive entry")
        elif self.weights:
            raise ValueError(f"objective `weights` are only read by kind 'weighted', not {self.kind!r}")
        return self


class FidelityConfig(StrictModel):
    """Multi-fidelity: each trial is evaluated at growing item ``limits`` and reports after
    each, so ASHA stops poor mixtures early; the ``top_k`` are evaluated on the full map after."""

    limits: list[int] = Field(min_length=1)
    top_k: int = Field(default=3, ge=0)
    reduction_factor: int = Field(default=2, ge=2)

    @field_validator("limits")
    @classmethod
    def _increasing(cls, limits: list[int]) -> list[int]:
        if any(n < 1 for n in limits) or any(b <= a for a, b in zip(limits, limits[1:], strict=False)):
            raise ValueError(f"limits {limits} must be positive and strictly increasing, e.g. [10, 40]")
        return limits


class ConfirmConfig(StrictModel):
    """Confirmation (``calray.sweep.confirm``): once a sweep that reports a winner has run, its
    ``top_k`` mixtures, the uniform mix and the best single source are pruned again in
    sequential mode (the paper's setting) with ``seeds`` calibration seeds (the sweep's seed,
    then the next ones) and evaluated on ``limit`` items per task (None: every item); the
    headline tables come from these runs only."""

    top_k: int = Field(default=3, ge=0)
    seeds: int = Field(default=3, ge=1)
    limit: int | None = Field(default=None, ge=1)


class CalibrationConfig(StrictModel):
    nsamples: int = Field(default=128, ge=1)
    seqlen: int | None = Field(default=None, ge=2)
    seed: int = 0
    seeds: list[int] | None = None  # algorithm "sources": one trial per (source, seed)
    sampling: str | dict[str, str] | None = None
    metrics: MetricsLevel = "all"


class EvaluationConfig(EvaluationSettings):
    """``calray.evaluate.EvaluationSettings`` (what every trial is evaluated on), and where the
    tasks' files are (``calray.evaluate.LocalData``; the pool reads them)."""

    data: dict[str, Any] | None = None

    def settings(self) -> EvaluationSettings:
        """What a trial's job carries (the data location goes to the pool instead)."""
        return EvaluationSettings(**self.model_dump(exclude={"data"}))


class TrackingConfig(StrictModel):
    """Where MLflow records go: a ``sqlite:///`` file (default ``mlflow.db`` in the working
    directory; refused inside a Ray job's temporary working copy, see ``calray.durable``) or a
    tracking server's URI; one experiment per study."""

    uri: str | None = None
    experiment: str = DEFAULT_EXPERIMENT


class ExportConfig(StrictModel):
    top_k: int = Field(default=0, ge=0)
    dir: str = "exports"


class SweepConfig(StrictModel):
    """See the module docstring."""

    name: str = "sweep"
    model: str
    pool: dict[str, Any] = {}
    pool_name: str = "calray-sweep"
    setup_modules: list[str] = []
    sources_file: str | None = None
    space: SpaceConfig
    search: SearchConfig = SearchConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    prune: PruneSettings = PruneSettings(sparsity=0.5)
    calibration: CalibrationConfig = CalibrationConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    fidelity: FidelityConfig | None = None
    confirm: ConfirmConfig | None = ConfirmConfig()
    tracking: TrackingConfig = TrackingConfig()
    export: ExportConfig = ExportConfig()
    storage_path: str = "calray-runs"  # Tune's run directories; relative: see calray.durable.result_path
    cluster_yaml: str | None = None  # check resource requests against this launcher file's node types

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
            raise ValueError(f"name {name!r} must be letters, digits and _ . + - (it names a directory)")
        return name

    @property
    def confirms(self) -> bool:
        """Whether this sweep is confirmed: it reports one winner (not a scan of single sources,
        not a Pareto front) and confirmation is on."""
        return (self.confirm is not None and self.confirm.top_k > 0 and self.search.algorithm != "sources"
                and self.objective.kind != "pareto")

    @model_validator(mode="after")
    def _combinations(self) -> SweepConfig:
        if self.fidelity is not None:
            if self.search.algorithm not in ("optuna", "random"):
                raise ValueError(
                    f"fidelity levels need algorithm optuna or random (ASHA stops trials), not {self.search.algorithm!r}"
                )
            if self.objective.kind == "pareto":
                raise ValueError("fidelity (ASHA) needs one objective; it cannot stop trials on a Pareto front")
            if self.evaluation.limit is not None and self.fidelity.limits[-1] >= self.evaluation.limit:
                raise ValueError(
                    f"fidelity limits {self.fidelity.limits} must stay below evaluation.limit {self.evaluation.limit}"
                )
        if self.calibration.seeds is not None and self.search.algorithm != "sources":
            raise ValueError(
                "calibration.seeds (several seeds per source) is read by algorithm 'sources' only; use calibration.seed"
            )
        return self


def load_sweep_config(path: str | Path | None = None, *, data: dict[str, Any] | None = None,
                      overrides: Sequence[str] = (), base: Path | None = None) -> SweepConfig:
    """Read (YAML ``path``, or ``data``), apply ``KEY=VALUE`` overrides, expand variables, make
    relative paths relative to the file (or ``base``, default the working directory), validate."""
    base = base or Path.cwd()
    raw: dict[str, Any] = dict(data or {})
    if path is not None:
        path = Path(path)
        raw = {**read_yaml_mapping(path), **raw}
        base = path.resolve().parent
    for assignment in overrides:
        set_option(raw, assignment)
    config = validate(SweepConfig, expand_vars(raw), f"sweep config {str(path)!r}" if path else "sweep config")
    return resolve_paths(config, base)


def resolve_paths(config: SweepConfig, base: Path) -> SweepConfig:
    """Model, sources file, cluster file, task data and capability-map files relative to ``base``."""

    def resolve(p: str) -> str:
        return str(Path(p) if Path(p).is_absolute() else (base / p).resolve())

    changes: dict[str, Any] = {}
    if not is_model_name(config.model) and not Path(config.model).is_absolute() and (base / config.model).exists():
        changes["model"] = resolve(config.model)
    if config.sources_file:
        changes["sources_file"] = resolve(config.sources_file)
    if config.cluster_yaml:
        changes["cluster_yaml"] = resolve(config.cluster_yaml)
    evaluation: dict[str, Any] = {}
    if config.evaluation.data:
        data = dict(config.evaluation.data)
        if data.get("root"):
            data["root"] = resolve(data["root"])
        data["files"] = {k: resolve(v) for k, v in (data.get("files") or {}).items()}
        evaluation["data"] = data
    cmap = config.evaluation.capability_map
    if isinstance(cmap, str) and cmap.endswith((".yaml", ".yml")):
        evaluation["capability_map"] = resolve(cmap)
    if evaluation:
        changes["evaluation"] = config.evaluation.model_copy(update=evaluation)
    return config.model_copy(update=changes) if changes else config
