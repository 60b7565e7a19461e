"""Tune callbacks of the driver: MLflow records of every trial, and progress in the log.

Both run in the driver process (Tune calls callbacks there), so all MLflow writes come from
one process. They hold only plain, picklable state: Tune pickles them with the experiment,
and a restored sweep gets them back unchanged, finding its runs again by their tags.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ray import tune

from calray.sweep.objective import OBJECTIVE
from calray.sweep.simplex import mixture_label
from calray.sweep.tracking import KIND, PARENT, SWEEP_ID, TRIAL_KEY, Tracker
from calray.sweep.trial import LIMIT_KEY, RESULT_KEY, TrialTemplate

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

log = logging.getLogger("calray.sweep")

TRACKED_PREFIXES = ("retention/", "score/", "stderr/", "items/", "calibration/", "pruning/", "time/", "fidelity/")
ITEM_SCORES = "item_scores.json"


def trial_key(sweep_id: str, trial_id: str) -> str:
    return f"{sweep_id}/{trial_id}"


def tracked_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a Tune result that calray reported (Tune's own bookkeeping left out)."""
    return {
        k: float(v) for k, v in result.items()
        if (k == OBJECTIVE or k.startswith(TRACKED_PREFIXES)) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def mixture_params(template: TrialTemplate, config: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """A trial's mixture and its MLflow params: weight and sample count per source, mixture, id, seed."""
    from calray.data import Mixture, allocate

    weights = template.weights(config)
    nonzero = {s: w for s, w in weights.items() if w > 0}
    params: dict[str, Any] = {f"weight/{s}": w for s, w in weights.items()}
    params.update({f"count/{s}": c for s, c in allocate(nonzero, template.nsamples).items()})
    mixture = Mixture.from_weights(nonzero)
    params.update({"mixture": mixture.text(), "mixture_id": mixture.id, "seed": template.seed_of(config)})
    return weights, params


class TrackingCallback(tune.Callback):
    """One nested MLflow run per trial, found by its stable key (sweep id / trial id)."""

    def __init__(
        self, tracker: Tracker, *, sweep_id: str, parent_id: str, template: TrialTemplate, params: Mapping[str, Any]
    ) -> None:
        self.tracker = tracker
        self.sweep_id = sweep_id
        self.parent_id = parent_id
        self.template = template
        self.params = dict(params)

    def run_for(self, trial: Trial) -> str:
        """The trial's run: created on first sight, reused after a resume (or a retry)."""
        weights, params = mixture_params(self.template, trial.config)
        label = mixture_label(weights)
        return self.tracker.get_or_create(
            TRIAL_KEY, trial_key(self.sweep_id, trial.trial_id), name=label,
            tags={PARENT: self.parent_id, KIND: "trial", SWEEP_ID: self.sweep_id, "calray.trial_id": trial.trial_id,
                  "calray.mixture": label, "calray.mixture_id": params["mixture_id"]},
            params={**self.params, **params},
        )

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.run_for(trial)

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
        step = int(result.get("training_iteration", 1)) - 1
        logged = self.__dict__.setdefault("_logged", set())  # (trial, step): Tune repeats a trial's last result
        if (trial.trial_id, step) in logged:
            return
        logged.add((trial.trial_id, step))
        self.tracker.log_metrics(self.run_for(trial), tracked_metrics(result), step=step)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        record_completed(self.tracker, self.run_for(trial), self.template, trial.config, trial.last_result or {})

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_logged"}

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        run_id = self.run_for(trial)
        self.tracker.set_tags(run_id, {"calray.error": error_line(trial)})
        self.tracker.finish(run_id, "FAILED")


def record_completed(
    tracker: Tracker, run_id: str, template: TrialTemplate, config: Mapping[str, Any], last: Mapping[str, Any]
) -> None:
    """A finished trial's last metrics, its mixture and job result as artifacts, and FINISHED."""
    weights, params = mixture_params(template, config)
    if OBJECTIVE not in tracker.client.get_run(run_id).data.metrics:  # its results never reached MLflow
        tracker.log_metrics(run_id, tracked_metrics(last), step=max(int(last.get("training_iteration", 1)) - 1, 0))
    tracker.log_json(run_id, {"weights": weights, "counts": {k[6:]: v for k, v in params.items() if k.startswith("count/")},
                              "mixture": params["mixture"], "id": params["mixture_id"], "seed": params["seed"]}, "mixture.json")
    if last.get(RESULT_KEY):
        log_job_result(tracker, run_id, json.loads(last[RESULT_KEY]))
    levels = [lim or 0 for lim in template.limits]
    reached = last.get(LIMIT_KEY)
    tags = {"calray.fidelity": "full" if not reached else str(reached)}
    if reached is not None and len(levels) > 1 and reached != levels[-1]:
        tags["calray.stopped_early"] = "true"
    tracker.set_tags(run_id, tags)
    tracker.finish(run_id, "FINISHED")


def log_job_result(tracker: Tracker, run_id: str, result: dict[str, Any]) -> None:
    """A job result as two artifacts: ``job_result.json`` and, compact, the per-item scores of
    the pruned and the dense model (``item_scores.json``: {"pruned"|"dense": {task: {key: [...]}}})."""
    items = {
        "pruned": _whole(result.pop("item_scores", {})),
        "dense": _whole(result.pop("dense_item_scores", {})),
    }
    tracker.log_json(run_id, result, "job_result.json")
    tracker.log_text(run_id, json.dumps(items, separators=(",", ":")), ITEM_SCORES)


def _whole(scores: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, list[float | int]]]:
    """Whole numbers (0/1 scores, word counts) written as integers: a third of the bytes."""
    return {t: {k: [int(v) if float(v).is_integer() else v for v in vs] for k, vs in keys.items()} for t, keys in scores.items()}


def error_line(trial: Trial) -> str:
    """The last line of the trial's error (``TrialFailed: mixture ... failed at ...``)."""
    try:
        error = trial.get_error()
    except Exception:  # noqa: BLE001 - the error file may be gone; the status says enough
        error = None
    lines = [line for line in str(error or "unknown error").splitlines() if line.strip()]
    return lines[-1][:2000] if lines else "unknown error"


class ProgressCallback(tune.Callback):
    """One log line per finished trial, with the best so far; ``total`` trials expected."""

    def __init__(self, *, total: int, template: TrialTemplate, metric: str = OBJECTIVE) -> None:
        self.total = total
        self.template = template
        self.metric = metric
        self.started = time.time()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.started = time.time()  # a resumed sweep times itself from the resume

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._line(trials, trial, "done")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._line(trials, trial, "FAILED: " + error_line(trial))

    def _line(self, trials: list[Any], trial: Any, what: str) -> None:
        # Tune calls this before it marks ``trial`` finished.
        finished = [t for t in trials if t.status in ("TERMINATED", "ERROR") and t is not trial] + [trial]
        result = trial.last_result or {}
        label = mixture_label(self.template.weights(trial.config))
        dims = " ".join(
            f"{k.split('/', 1)[1]}={v:.1f}" for k, v in result.items()
            if k.startswith("retention/") and k != "retention/total" and isinstance(v, float)
        )
        scored = [
            (t.last_result.get(self.metric), t) for t in finished if t.last_result and _finite(t.last_result.get(self.metric))
        ]
        best = max(scored, key=lambda vt: vt[0]) if scored else None
        value = result.get(self.metric)
        head = f"[{len(finished)}/{self.total}] {label}"
        if what == "done":
            seed = f" seed {trial.config['seed']}" if "seed" in trial.config else ""
            if result.get(LIMIT_KEY):
                seed += f" (items <= {result[LIMIT_KEY]}" + (
                    ", stopped early)" if result[LIMIT_KEY] != self.template.limits[-1] else ")"
                )
            log.info("%s%s: %s %.2f (%s) in %.0fs%s", head, seed, self.metric, value if _finite(value) else math.nan, dims,
                     result.get("time/trial", 0.0),
                     f"; best {best[0]:.2f} ({mixture_label(self.template.weights(best[1].config))})" if best else "")
        else:
            log.warning("%s: %s", head, what)
        if len(finished) == self.total:
            log.info("all %d trials finished in %.0fs (%.1f trials/minute)", self.total, time.time() - self.started,
                     60 * self.total / max(time.time() - self.started, 1e-9))


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
