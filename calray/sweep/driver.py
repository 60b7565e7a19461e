"""The sweep driver: a validated config -> a pool -> Ray Tune trials -> MLflow records.

    from calray.cluster import init_ray
    from calray.sweep import load_sweep_config, run_sweep

    init_ray()                                   # or init_ray("auto") inside `ray job submit`
    result = run_sweep(load_sweep_config("jobs/configs/toy.yaml"))
    result.best().weights, result.table()

Order of work, so that a failure leaves nothing half-done: ``plan_sweep`` checks everything
(no Ray, pool or MLflow run yet); the pool starts and the dense model is evaluated (its run
is recorded once per model and map); only then is the sweep's parent run opened. Each sweep
has a directory ``<storage_path>/<name>/<sweep id>`` (a relative storage path is kept out of a
Ray job's temporary working copy: ``calray.durable``) holding Tune's experiment and
``calray_sweep.json`` (id, config, parent run, status). ``run_sweep(config, resume=True)``
continues the newest unfinished sweep of that name with Tune's ``Tuner.restore``; trials Tune
runs again reuse their MLflow runs (found by key), and a final pass records any trial whose
result reached Tune but not MLflow, and ends runs still RUNNING, so every trial is recorded
exactly once with an ended status. SIGINT or SIGTERM stops a sweep the same resumable way
(``calray.sweep.interrupt``); only a sweep directory the user wrote is resumed
(``calray.sweep.trust``: Tune's state is unpickled).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
import yaml
from ray import tune
from ray.tune import ExperimentAnalysis

from calray import __version__
from calray.atomic import write_atomic
from calray.cluster import PoolClient, start_pool
from calray.config import validate
from calray.data import get_source
from calray.durable import result_path
from calray.errors import CalrayError
from calray.models import parameter_count
from calray.sweep.callbacks import (
    ProgressCallback,
    TrackingCallback,
    error_line,
    record_completed,
    tracked_metrics,
    trial_key,
)
from calray.sweep.config import SweepConfig
from calray.sweep.confirm import confirm
from calray.sweep.export import export_top
from calray.sweep.interrupt import StopSignals, stop_signals
from calray.sweep.objective import OBJECTIVE
from calray.sweep.plan import SweepPlan, plan_sweep
from calray.sweep.results import SweepResult, TrialRecord
from calray.sweep.search import build_search
from calray.sweep.tracking import KIND, MODEL_PARAMETERS, SOURCE_DIMENSIONS, SWEEP_ID, TRIAL_KEY, Tracker, git_commit
from calray.sweep.trial import LIMIT_KEY, run_trial
from calray.sweep.trust import check_resumable_dir

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

log = logging.getLogger("calray.sweep")

STATE_FILE = "calray_sweep.json"
TRIAL_CPU = 0.01  # trials only wait on the pool: a sliver of a CPU, never a GPU


def trial_dirname(trial: Trial) -> str:
    return f"trial_{trial.trial_id}"


# --- sweep directories -------------------------------------------------------------------------------
def new_sweep_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def read_state(sweep_dir: Path) -> dict[str, Any]:
    return json.loads((sweep_dir / STATE_FILE).read_text())


def write_state(sweep_dir: Path, **state: Any) -> None:
    path = sweep_dir / STATE_FILE
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(state)
    write_atomic(path, json.dumps(current, indent=2, default=str) + "\n")


def find_resumable(config: SweepConfig, where: str | bool) -> Path:
    """The sweep directory to resume: ``where`` itself, or the newest unfinished sweep of the
    config's name under its storage path."""
    if isinstance(where, str):
        path = Path(where).expanduser().resolve()
    else:
        base = result_path(config.storage_path) / config.name
        candidates = sorted((p for p in base.glob(f"*/{STATE_FILE}")), key=lambda p: p.parent.name)
        open_ = [p.parent for p in candidates if read_state(p.parent).get("status") != "finished"]
        if not open_:
            raise CalrayError(f"no interrupted sweep named {config.name!r} under {str(base)!r} to resume; "
                              "run it without --resume")
        path = open_[-1]
    check_resumable_dir(path, marker=STATE_FILE)  # Tune unpickles its state: only a directory you wrote
    return path


# --- the driver ------------------------------------------------------------------------------------
def run_sweep(
    config: SweepConfig,
    *,
    resume: bool | str = False,
    pool: PoolClient | None = None,
    known: Sequence[tuple[Mapping[str, float], float]] = (),
    plan: SweepPlan | None = None,
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> SweepResult:
    """Run (or with ``resume`` continue) the sweep ``config`` on the connected Ray cluster.

    ``pool``: a running ``PoolClient`` to use (else one is started for the sweep and stopped
    after it). ``known``: (mixture, objective) pairs measured before (Optuna is told them and
    does not run them again). ``references``: {role: mixture} confirmed beside the sweep's own
    headlines (``calray.sweep.confirm``; e.g. the best single source of a scan, the default).
    Returns the trials as recorded, with their MLflow run ids, and the confirmation runs.

    SIGINT or SIGTERM (in the main thread) stops the sweep resumably: Tune saves its state,
    the runs end KILLED, the sweep directory stays open for ``resume=True``, and
    ``Interrupted`` (a ``KeyboardInterrupt`` carrying exit code 130 or 143) is raised.
    """
    with stop_signals() as stop:
        return _run_sweep(config, resume=resume, pool=pool, known=known, plan=plan, references=references, stop=stop)


def _run_sweep(config: SweepConfig, *, resume: bool | str, pool: PoolClient | None,
               known: Sequence[tuple[Mapping[str, float], float]], plan: SweepPlan | None,
               references: Mapping[str, Mapping[str, float]] | None, stop: StopSignals) -> SweepResult:
    if not ray.is_initialized():
        raise CalrayError("Ray is not initialised in this process; call calray.cluster.init_ray() first")
    if resume:
        sweep_dir = find_resumable(config, resume)
        state = read_state(sweep_dir)
        stored = validate(SweepConfig, state["config"], f"the config stored in {sweep_dir}")
        # The search, tracking and study settings are the stored ones; the pool may be laid out anew.
        config = stored.model_copy(update={"pool": config.pool, "pool_name": config.pool_name})
        sweep_id = state["sweep_id"]
        log.info("resuming sweep %s from %s", sweep_id, sweep_dir)
    else:
        sweep_id = new_sweep_id()
        sweep_dir = result_path(config.storage_path) / config.name / sweep_id
    plan = plan or plan_sweep(config)
    tracker = Tracker(plan.tracking_uri, config.tracking.experiment)
    tracker.experiment_id  # noqa: B018 - create the experiment (once, here in the driver)

    own_pool = pool is None
    if pool is None:
        log.info(
            "starting the pool: %s", {k: v for k, v in plan.pool_config.model_dump().items() if v is not None and k != "data"}
        )
        pool = start_pool(plan.pool_config, name=config.pool_name, setup=plan.setup)
    parent_id: str | None = None
    try:
        capacity = pool.capacity()
        dense, dense_run = record_dense(tracker, pool, plan, capacity)
        parent_id = tracker.get_or_create(
            SWEEP_ID, sweep_id, name=f"{config.name} {sweep_id}",
            tags={KIND: "sweep", "calray.git_commit": git_commit(), "calray.version": __version__,
                  "calray.model_fingerprint": capacity.get("model_fingerprint", ""), "calray.dense_run": dense_run,
                  "calray.sweep_dir": str(sweep_dir), SOURCE_DIMENSIONS: json.dumps(source_dimensions(plan.space.sources)),
                  **({MODEL_PARAMETERS: str(n)} if (n := parameter_count(plan.model_dir)) else {})},
            params={**plan.common_params(), "num_trials": plan.num_trials, "sources": list(plan.space.sources)},
        )
        if not resume:
            write_state(sweep_dir, sweep_id=sweep_id, name=config.name, status="running", parent_run_id=parent_id,
                        tracking_uri=plan.tracking_uri, experiment=config.tracking.experiment,
                        config=config.model_dump(mode="json"))
            tracker.log_text(parent_id, _yaml(config), "config.yaml")
            tracker.log_metrics(parent_id, {f"dense/{t}/{m}": v for t, ms in dense.items() for m, v in ms.items()})
        max_concurrent = config.search.max_concurrent or max(int(capacity["slots"]), 1)
        log.info("sweep %s: %d trials, %s search, up to %d at once (pool: %d pipelines x %d stages on %s)", sweep_id,
                 plan.num_trials, config.search.algorithm, max_concurrent, capacity["pipelines"], capacity["stages"],
                 capacity["device"])
        tuner = _tuner(plan, tracker, pool, sweep_id=sweep_id, parent_id=parent_id, sweep_dir=sweep_dir,
                       max_concurrent=max_concurrent, resume=bool(resume), known=known)
        with stop.graceful():
            tuner.fit()
        stop.check()  # a sweep Tune stopped early on a signal is interrupted, not finished
        records = reconcile(tracker, plan, sweep_dir, sweep_id=sweep_id, parent_id=parent_id)
        if config.fidelity is not None and config.fidelity.top_k:
            evaluate_top(tracker, pool, plan, records, k=config.fidelity.top_k)
        confirmed = (confirm(tracker, pool, plan, records, sweep_id=sweep_id, parent_id=parent_id, references=references)
                     if config.confirms else [])
        result = SweepResult(sweep_id=sweep_id, name=config.name, path=str(sweep_dir), parent_run_id=parent_id,
                             tracking_uri=plan.tracking_uri, experiment=config.tracking.experiment,
                             objective=plan.objective, dense=dense, trials=records, dimensions=plan.dimensions,
                             confirmations=confirmed)
        summarise(tracker, result)
        tracker.finish(parent_id, "FINISHED")
        write_state(sweep_dir, status="finished")
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        if parent_id is not None:
            tracker.kill_running([r.info.run_id for r in tracker.children(parent_id)], status="KILLED")
            tracker.kill_running([parent_id], status="KILLED" if interrupted else "FAILED")
        if (sweep_dir / STATE_FILE).is_file():
            write_state(sweep_dir, status="interrupted" if interrupted else "failed")
            log.warning("sweep %s %s; `calray sweep --config ... --resume` continues it (state in %s)", sweep_id,
                        "interrupted" if interrupted else f"failed ({type(exc).__name__})", sweep_dir)
        raise
    finally:
        if own_pool:
            pool.shutdown()
    if config.export.top_k:
        export_top(result, k=config.export.top_k, out=result_path(config.export.dir) / config.name / sweep_id)
    return result


def _tuner(plan: SweepPlan, tracker: Tracker, pool: PoolClient, *, sweep_id: str, parent_id: str, sweep_dir: Path,
           max_concurrent: int, resume: bool, known: Sequence[tuple[Mapping[str, float], float]]) -> tune.Tuner:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # calray logs its own progress; no Tune tables
    # Tune's experiment state (what a resume restarts from) every few seconds rather than its
    # default 10+: trials are long and the state is small, and a killed driver loses less.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
    # Tune's TensorBoard logger renames every "score/toy:gsm/..." key at INFO, once per trial.
    logging.getLogger("tensorboardX").setLevel(logging.WARNING)
    template = plan.trial_template()
    trainable = tune.with_resources(tune.with_parameters(run_trial, template=template, pool=pool), {"cpu": TRIAL_CPU})
    if resume:
        # The callbacks come back from the experiment's pickle: they hold only plain state.
        return tune.Tuner.restore(str(sweep_dir), trainable=trainable, resume_unfinished=True, resume_errored=False,
                                  restart_errored=False)
    search = build_search(plan, max_concurrent=max_concurrent, known=() if plan.objective.kind == "pareto" else known)
    callbacks = [
        TrackingCallback(tracker, sweep_id=sweep_id, parent_id=parent_id, template=template, params=plan.common_params()),
        ProgressCallback(total=plan.num_trials, template=template),
    ]
    return tune.Tuner(
        trainable,
        param_space=search.param_space,
        tune_config=tune.TuneConfig(
            metric=search.metric, mode=search.mode, search_alg=search.search_alg, scheduler=search.scheduler,
            num_samples=search.num_samples, reuse_actors=True,
            max_concurrent_trials=None if search.search_alg is not None else search.max_concurrent,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=sweep_id, storage_path=str(sweep_dir.parent), callbacks=callbacks, verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def source_dimensions(sources: Sequence[str]) -> dict[str, str]:
    """Each source's dimension tag: recorded with the sweep so that an analysis reading the store
    elsewhere knows which sources are each dimension's own without their registrations."""
    return {s: get_source(s).dimension for s in sources}


def record_dense(
    tracker: Tracker, pool: Any, plan: SweepPlan, capacity: Mapping[str, Any]
) -> tuple[dict[str, dict[str, float]], str]:
    """The dense model's scores on the sweep's map, and their MLflow run (once per model, map
    and evaluation seed; reused by later sweeps)."""
    c = plan.config
    log.info("dense evaluation of %s on %s", c.model, plan.dimensions)
    started = time.time()
    dense = pool.dense_scores(plan.probe_job())
    key = c.evaluation.settings().dense_key(capacity.get("model_fingerprint", c.model))
    found = tracker.find_one({"calray.dense_key": key})
    if found is not None and found.info.status == "FINISHED":
        return dense, found.info.run_id
    run_id = tracker.get_or_create("calray.dense_key", key, name=f"dense {Path(c.model).name}",
                                   tags={KIND: "dense", "calray.model_fingerprint": capacity.get("model_fingerprint", "")},
                                   params={"model": c.model, "capability_map": c.evaluation.map_name,
                                           "limit": c.evaluation.limit, "eval_seed": c.evaluation.eval_seed})
    tracker.log_metrics(run_id, {f"score/{t}/{m}": v for t, ms in dense.items() for m, v in ms.items()})
    tracker.log_metrics(run_id, {"time/dense": time.time() - started})
    tracker.log_json(run_id, dense, "dense_scores.json")
    tracker.finish(run_id)
    return dense, run_id


def reconcile(tracker: Tracker, plan: SweepPlan, sweep_dir: Path, *, sweep_id: str, parent_id: str) -> list[TrialRecord]:
    """Make MLflow agree with Tune's final state: a finished trial has a FINISHED run with its
    last metrics, an errored one a FAILED run; runs of trials Tune never finished or never
    saved (a driver killed between two of its state saves) end KILLED, so the FINISHED runs of a
    sweep are exactly its Tune trials."""
    template = plan.trial_template()
    callback = TrackingCallback(tracker, sweep_id=sweep_id, parent_id=parent_id, template=template,
                                params=plan.common_params())
    records = []
    for trial in ExperimentAnalysis(str(sweep_dir)).trials:
        run_id = callback.run_for(trial)
        status = tracker.status(run_id)
        last = dict(trial.last_result or {})
        if trial.status == "TERMINATED" and status != "FINISHED":
            record_completed(tracker, run_id, template, trial.config, last)
        elif trial.status == "ERROR" and status == "RUNNING":
            tracker.set_tags(run_id, {"calray.error": error_line(trial)})
            tracker.finish(run_id, "FAILED")
        weights = template.weights(trial.config)
        records.append(TrialRecord(
            trial_id=trial.trial_id, run_id=run_id, status=trial.status, weights=weights, seed=template.seed_of(trial.config),
            metrics={k: v for k, v in last.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        ))
    keys = {trial_key(sweep_id, r.trial_id) for r in records}
    tracker.kill_running([r.run_id for r in records])
    for run in tracker.children(parent_id):
        if run.data.tags.get(KIND) == "trial" and run.data.tags.get(TRIAL_KEY) not in keys and run.info.status != "KILLED":
            # A trial the killed driver ran (perhaps to the end) after Tune's last saved state:
            # Tune does not know it and proposed again; its run is kept, but ended as lost.
            tracker.set_tags(run.info.run_id, {"calray.lost": "the driver died before Tune saved this trial; "
                                               "the resumed sweep ran another in its place"})
            tracker.finish(run.info.run_id, "KILLED")
    return records


def evaluate_top(tracker: Tracker, pool: PoolClient, plan: SweepPlan, records: list[TrialRecord], *, k: int) -> None:
    """Multi-fidelity's last step: the ``k`` best trials (furthest level first, then objective)
    evaluated on the full capability map, logged to their runs as the next step, in place."""
    template = plan.trial_template()
    done = [r for r in records if r.ok]
    ranked = sorted(done, key=lambda r: (-template.limits.index(r.metrics.get(LIMIT_KEY) or None), -r.metrics[OBJECTIVE]))[:k]
    if not ranked:
        return
    log.info("evaluating the %d best of %d trials on the full capability map", len(ranked), len(done))
    jobs = [
        template.make_job(r.weights, seed=r.seed, limit=plan.config.evaluation.limit, name=f"{plan.config.name}:final:{r.label}")
        for r in ranked
    ]
    for record, result in zip(ranked, ray.get([pool.submit(job) for job in jobs]), strict=True):
        if not result.ok:
            log.warning("final evaluation of %s failed: %s", record.label, result.error)
            continue
        report = template.report(result, limit=None)
        metrics = tracked_metrics(report)
        tracker.log_metrics(record.run_id, metrics, step=len(template.limits))
        tracker.set_tags(record.run_id, {"calray.fidelity": "full"})
        record.metrics.update(metrics)
        log.info("%s on the full map: %s %.2f", record.label, OBJECTIVE, metrics.get(OBJECTIVE, float("nan")))


def summarise(tracker: Tracker, result: SweepResult) -> None:
    """The parent run's summary: best objective and mixture, counts, the Pareto front."""
    ok = [t for t in result.trials if t.status == "TERMINATED"]
    tracker.log_metrics(result.parent_run_id, {"trials/finished": len(ok), "trials/failed": len(result.trials) - len(ok)})
    best = result.best()
    if best is not None:
        tracker.log_metrics(result.parent_run_id, {f"best/{k}": v for k, v in best.metrics.items()
                                                   if k == OBJECTIVE or k.startswith("retention/")})
        tracker.set_tags(result.parent_run_id, {"calray.best_run": best.run_id, "calray.best_mixture": best.label})
    tracker.log_json(result.parent_run_id, result.summary(), "summary.json")


def _yaml(config: SweepConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
