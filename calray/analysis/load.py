"""Recorded sweeps and trials read back from MLflow into one tidy table (a row per trial).

What a sweep records is defined by ``calray.sweep.tracking`` (one parent run tagged
``calray.kind = sweep``, one nested run per trial with params ``weight/<source>``, ``seed``,
the pruning setting, and metrics ``retention/<dimension>``, ``calibration/<metric>``...);
this module reads exactly that, through the same ``Tracker``, and never writes. Only
``FINISHED`` trial runs become rows: failed, killed and lost trials are counted, not analysed.

    trials = load_trials("sqlite:///mlflow.db", "calray")              # every sweep
    trials = load_trials(uri, "calray", sweeps=["demo-scan"])          # the newest of that name
    trials.to_arrow()                                                       # one row per trial
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from calray.errors import CalrayError
from calray.format import ordered_dimensions
from calray.sweep.simplex import mixture_label
from calray.sweep.tracking import KIND, PARENT, SOURCE_DIMENSIONS, SWEEP_ID, Tracker, require_store

log = logging.getLogger(__name__)

# Params that make retentions comparable: trials differing in one of them belong to different tables.
SETTING_PARAMS = ("model", "method", "sparsity", "n_m", "mode", "nsamples", "seqlen", "capability_map", "limit", "eval_seed")
SCAN_ALGORITHM = "sources"  # a sweep over every source alone: the single-source scan


@dataclass(frozen=True)
class SweepInfo:
    """A recorded sweep (its parent run)."""

    sweep_id: str
    name: str
    run_id: str
    status: str
    algorithm: str
    sources: tuple[str, ...]
    source_dimensions: Mapping[str, str]  # {source: its dimension tag}; empty for sweeps recorded before the tag
    start_time: int  # ms since the epoch

    @property
    def is_scan(self) -> bool:
        return self.algorithm == SCAN_ALGORITHM


@dataclass(frozen=True)
class TrialRow:
    """One finished trial: its mixture, seed, pruning setting, retentions and information metrics."""

    run_id: str
    sweep_id: str
    sweep_name: str
    weights: Mapping[str, float]  # every source of the sweep's space, zeros included
    seed: int
    setting: Mapping[str, str]  # SETTING_PARAMS as recorded (strings)
    retention: Mapping[str, float]  # {dimension: pruned / dense x 100}; a dimension undefined in the run is absent
    total: float
    info: Mapping[str, float]  # {information metric: value} of the calibration set
    full: bool = True  # evaluated on the full capability map (not only a fidelity level's subset)
    metrics: Mapping[str, float] = field(default_factory=dict, repr=False)  # every metric of the run

    @property
    def label(self) -> str:
        return mixture_label(self.weights)

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources with a non-zero weight."""
        return tuple(s for s, w in self.weights.items() if w > 0)

    @property
    def single(self) -> str | None:
        """The source, when the trial calibrated on one source alone."""
        used = self.sources
        return used[0] if len(used) == 1 else None

    def value(self, dimension: str) -> float:
        """Retention of ``dimension`` (``total`` for the mean over dimensions); NaN when undefined."""
        return self.total if dimension == "total" else float(self.retention.get(dimension, math.nan))


@dataclass
class Trials:
    """The rows of some sweeps of one experiment, and those sweeps."""

    rows: list[TrialRow]
    sweeps: list[SweepInfo]
    tracking_uri: str
    experiment: str
    skipped: dict[str, int] = field(default_factory=dict)  # {run status: count} of trial runs not analysed
    repeats: int = 0  # single-source trials of mixture sweeps left out by ``prefer_scans``

    @property
    def dimensions(self) -> list[str]:
        """Every retention dimension some row has, in the tables' order (``calray.format``)."""
        return ordered_dimensions(d for r in self.rows for d in r.retention)

    @property
    def info_metrics(self) -> list[str]:
        return sorted({m for r in self.rows for m in r.info})

    @property
    def source_dimensions(self) -> dict[str, str]:
        """{source: dimension tag} as the sweeps recorded it."""
        out: dict[str, str] = {}
        for sweep in self.sweeps:
            out.update(sweep.source_dimensions)
        return out

    def single_source(self) -> list[TrialRow]:
        return [r for r in self.rows if r.single is not None]

    def mixtures(self) -> list[TrialRow]:
        return [r for r in self.rows if len(r.sources) > 1]

    def scan_rows(self) -> list[TrialRow]:
        scans = {s.sweep_id for s in self.sweeps if s.is_scan}
        return [r for r in self.rows if r.sweep_id in scans]

    def prefer_scans(self) -> Trials:
        """Without the single-source trials of mixture sweeps (their seed points) when a scan is
        among the sweeps: the scan measures each source alone, and a source and seed counted
        twice would weigh twice in its mean. ``repeats`` counts what was left out."""
        scans = {s.sweep_id for s in self.sweeps if s.is_scan}
        if not scans:
            return self
        keep = [r for r in self.rows if r.sweep_id in scans or r.single is None]
        return replace(self, rows=keep, repeats=self.repeats + len(self.rows) - len(keep))

    def setting(self) -> dict[str, str]:
        """The pruning setting all rows share; one ``CalrayError`` naming what differs when they
        do not (retentions of different models or targets do not belong in one table)."""
        values = {p: sorted({r.setting.get(p, "?") for r in self.rows}) for p in SETTING_PARAMS}
        differ = {p: v for p, v in values.items() if len(v) > 1}
        if differ:
            by_sweep = sorted({f"{r.sweep_name} ({r.sweep_id})" for r in self.rows})
            raise CalrayError(
                f"the selected trials mix pruning settings {differ} (from sweeps {by_sweep}); retentions of different "
                "settings are not comparable: select sweeps of one setting (--scan/--sweep NAME or id)"
            )
        return {p: v[0] for p, v in values.items() if v}

    def to_records(self) -> list[dict[str, Any]]:
        """Flat dicts (``weight/<s>``, ``retention/<d>``, ``calibration/<m>`` columns), one per row."""
        out = []
        for r in self.rows:
            record: dict[str, Any] = {"run_id": r.run_id, "sweep_id": r.sweep_id, "sweep": r.sweep_name, "mixture": r.label,
                                      "single_source": r.single, "seed": r.seed, "full": r.full, **r.setting}
            record.update({f"weight/{s}": w for s, w in r.weights.items()})
            record.update({f"retention/{d}": r.value(d) for d in [*self.dimensions, "total"]})
            record.update({f"calibration/{m}": r.info.get(m, math.nan) for m in self.info_metrics})
            out.append(record)
        return out

    def to_arrow(self) -> Any:
        """The rows as a ``pyarrow.Table`` (absent weights are 0, absent numbers null)."""
        import pyarrow as pa

        records = self.to_records()
        columns = list(dict.fromkeys(k for rec in records for k in rec))
        data = {}
        for c in columns:
            default = 0.0 if c.startswith("weight/") else None
            data[c] = [_null_nan(rec.get(c, default)) for rec in records]
        return pa.table(data)


def _null_nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


# --- reading MLflow -------------------------------------------------------------------------------
def open_experiment(tracking_uri: str | None, experiment: str) -> Tracker:
    """A read-only ``Tracker`` on an existing experiment (never creates one, nor the store)."""
    tracker = Tracker(tracking_uri, experiment)
    require_store(tracker.uri)
    found = tracker.client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in tracker.client.search_experiments())
        raise CalrayError(f"no experiment {experiment!r} in {tracker.uri} (it has {names}); pass --experiment with one "
                          "of those, or --tracking-uri of the store the sweeps wrote to")
    return tracker


def list_sweeps(tracker: Tracker) -> list[SweepInfo]:
    """Every sweep of the tracker's experiment, oldest first."""
    out = []
    for run in tracker.find({KIND: "sweep"}):
        tags, params = run.data.tags, run.data.params
        sweep_id = tags.get(SWEEP_ID, run.info.run_id)
        name = tags.get("mlflow.runName", sweep_id)
        name = name[: -len(sweep_id) - 1] if name.endswith(" " + sweep_id) else name  # runName = "<name> <sweep id>"
        out.append(SweepInfo(
            sweep_id=sweep_id, name=name, run_id=run.info.run_id, status=run.info.status,
            algorithm=_json(params.get("algorithm"), ""), sources=tuple(_json(params.get("sources"), [])),
            source_dimensions=_json(tags.get(SOURCE_DIMENSIONS), {}), start_time=int(run.info.start_time or 0),
        ))
    return out


def select_sweeps(sweeps: Sequence[SweepInfo], selector: str, *, where: str = "experiment") -> list[SweepInfo]:
    """``all`` (every sweep), a sweep id, or a sweep name (its newest sweep)."""
    if selector == "all":
        return list(sweeps)
    by_id = [s for s in sweeps if s.sweep_id == selector or s.run_id == selector]
    if by_id:
        return by_id
    by_name = [s for s in sweeps if s.name == selector]
    if by_name:
        return [max(by_name, key=lambda s: s.start_time)]
    known = [f"{s.name} ({s.sweep_id})" for s in sweeps]
    raise CalrayError(f"no sweep named or with id {selector!r} in the {where} (it has {known or 'no sweeps'}); "
                      "give one of those names or ids, or 'all'")


def load_trials(tracking_uri: str | None, experiment: str, *, sweeps: Sequence[str] | None = None) -> Trials:
    """The finished trials of ``sweeps`` (names, ids or ``all``; default every sweep) of ``experiment``."""
    tracker = open_experiment(tracking_uri, experiment)
    recorded = list_sweeps(tracker)
    where = f"experiment {experiment!r}"
    if sweeps is None:
        return read_trials(tracker, recorded)
    chosen = {s.sweep_id: s for sel in sweeps for s in select_sweeps(recorded, sel, where=where)}
    return read_trials(tracker, list(chosen.values()))


def read_trials(tracker: Tracker, sweeps: Sequence[SweepInfo]) -> Trials:
    """The finished trials of ``sweeps`` (from ``list_sweeps(tracker)``)."""
    chosen = list(sweeps)
    rows: list[TrialRow] = []
    skipped: dict[str, int] = {}
    for sweep in chosen:
        for run in tracker.find({PARENT: sweep.run_id}):
            if run.data.tags.get(KIND) != "trial":
                continue
            if run.info.status != "FINISHED":
                skipped[run.info.status] = skipped.get(run.info.status, 0) + 1
                continue
            rows.append(trial_row(run, sweep))
    if skipped:
        log.info("trial runs not analysed (not FINISHED): %s", skipped)
    return Trials(rows, chosen, tracker.uri, tracker.experiment, skipped)


def trial_row(run: Any, sweep: SweepInfo) -> TrialRow:
    """One MLflow trial run as a row."""
    params, metrics, tags = run.data.params, dict(run.data.metrics), run.data.tags
    weights = {k[len("weight/"):]: float(v) for k, v in params.items() if k.startswith("weight/")}
    # keep the sweep's source order (params come back sorted by name)
    weights = {s: weights[s] for s in [*sweep.sources, *sorted(weights)] if s in weights}
    retention = {k[len("retention/"):]: v for k, v in metrics.items() if k.startswith("retention/") and k != "retention/total"}
    info = {k[len("calibration/"):]: v for k, v in metrics.items() if k.startswith("calibration/")}
    full = tags.get("calray.fidelity", "full") == "full" and not metrics.get("fidelity/limit")
    return TrialRow(
        run_id=run.info.run_id, sweep_id=sweep.sweep_id, sweep_name=sweep.name, weights=weights,
        seed=int(_json(params.get("seed"), 0)), setting={p: params[p] for p in SETTING_PARAMS if p in params},
        retention=retention, total=float(metrics.get("retention/total", math.nan)), info=info, full=full, metrics=metrics,
    )


def _json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def dense_scores(tracker: Tracker, sweep: SweepInfo) -> dict[str, dict[str, float]]:
    """The dense model's scores a sweep recorded on its parent run (``dense/<task>/<metric>``):
    ``{task: {metric: score}}``, empty when it recorded none."""
    out: dict[str, dict[str, float]] = {}
    for key, value in sorted(tracker.client.get_run(sweep.run_id).data.metrics.items()):
        if key.startswith("dense/") and key.count("/") >= 2:
            task, metric = key[len("dense/"):].rsplit("/", 1)
            out.setdefault(task, {})[metric] = float(value)
    return out
