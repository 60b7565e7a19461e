"""Confirmation: a sweep's headline mixtures pruned again in the paper's setting, several seeds.

A search picks its best mixture as the argmax over trials scored on the items that picked it,
often in the fast ``independent`` mode and on an item subset. Before anything is reported,
``confirm`` re-runs what the headline tables compare:

- the ``top_k`` mixtures of the search (best objective first; the first is "best mixture"),
- the uniform mix of the swept sources,
- the best single source (``references``, e.g. from the single-source scan; else the best of
  the sweep's own single-source trials), and any other named reference (the default source),

each in ``sequential`` mode, with ``confirm.seeds`` calibration seeds and every item of the
capability map (``confirm.limit``). A mixture that serves several roles runs once.

MLflow: one run per (mixture, seed), a child of the sweep's parent run, tagged as
``calray.sweep.tracking`` lists (a resumed sweep reuses the finished ones by their key).
``calray.analysis.confirmed`` reads them back into the headline table with intervals.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray

from calray.sweep.callbacks import log_job_result, mixture_params, tracked_metrics
from calray.sweep.objective import OBJECTIVE
from calray.sweep.plan import SweepPlan
from calray.sweep.results import TrialRecord
from calray.sweep.simplex import mixture_label
from calray.sweep.tracking import (
    BEST_MIXTURE,
    BEST_SINGLE,
    CONFIRM_KEY,
    CONFIRMATION,
    CONFIRMS,
    HEADLINE,
    KIND,
    PARENT,
    ROLE,
    SEED,
    SWEEP_ID,
    UNIFORM,
    Tracker,
)

log = logging.getLogger("calray.sweep")


@dataclass
class Candidate:
    """A mixture to confirm, the roles it plays in the headline table, and the trial it confirms."""

    weights: dict[str, float]
    roles: list[str]
    confirms: str

    @property
    def label(self) -> str:
        return mixture_label(self.weights)


@dataclass
class Confirmation:
    """One confirmation run (a mixture at one seed)."""

    roles: list[str]
    weights: dict[str, float]
    seed: int
    run_id: str
    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return mixture_label(self.weights)


def candidates(plan: SweepPlan, records: Sequence[TrialRecord], *, top_k: int,
               references: Mapping[str, Mapping[str, float]] | None = None) -> list[Candidate]:
    """What to confirm (see the module docstring), each mixture once, in headline order."""
    done = [r for r in records if r.ok]
    full = [r for r in done if r.full] or done
    ranked = sorted(full, key=lambda r: -r.metrics[OBJECTIVE])
    out: dict[str, Candidate] = {}

    def add(weights: Mapping[str, float], role: str, confirms: str) -> None:
        nonzero = {s: float(w) for s, w in weights.items() if w > 0}
        found = out.setdefault(mixture_label(nonzero), Candidate(nonzero, [], confirms))
        found.roles.append(role)

    top = list({r.label: r for r in reversed(ranked)}.values())[::-1][:top_k]  # distinct mixtures, best first
    for i, record in enumerate(top):
        add(record.weights, BEST_MIXTURE if i == 0 else f"top {i + 1}", record.trial_id)
    sources = plan.space.sources
    add({s: 1.0 / len(sources) for s in sources}, UNIFORM, UNIFORM)
    references = dict(references or {})
    if BEST_SINGLE not in references:
        singles = [r for r in ranked if sum(w > 0 for w in r.weights.values()) == 1]
        if singles:
            references[BEST_SINGLE] = singles[0].weights
    for role, weights in references.items():
        add(weights, role, role)
    return list(out.values())


def confirm(tracker: Tracker, pool: Any, plan: SweepPlan, records: Sequence[TrialRecord], *, sweep_id: str,
            parent_id: str, references: Mapping[str, Mapping[str, float]] | None = None) -> list[Confirmation]:
    """Run and record the confirmation of a finished sweep (see the module docstring)."""
    c = plan.config
    assert c.confirm is not None
    template = plan.trial_template()
    sequential = dataclasses.replace(template, prune=c.prune.model_copy(update={"mode": "sequential"}), limits=(None,))
    sequential = dataclasses.replace(sequential, evaluation=sequential.evaluation.model_copy(update={"limit": c.confirm.limit}))
    seeds = [c.calibration.seed + i for i in range(c.confirm.seeds)]
    todo = candidates(plan, records, top_k=c.confirm.top_k, references=references)
    log.info("confirming %d mixtures (%s) in sequential mode, %d seeds each, %s items per task", len(todo),
             "; ".join(f"{', '.join(m.roles)}: {m.label}" for m in todo), len(seeds), c.confirm.limit or "all")
    params = {**plan.common_params(), "mode": "sequential", "limit": c.confirm.limit}
    done: list[Confirmation] = []
    pending: dict[Any, tuple[Candidate, int, str]] = {}
    started = time.time()
    for candidate in todo:
        for seed in seeds:
            _, mixture = mixture_params(template, {"point": candidate.weights, "seed": seed})
            run_id = tracker.get_or_create(
                CONFIRM_KEY, f"{sweep_id}/{candidate.label}/seed{seed}", name=f"confirm {candidate.label} seed {seed}",
                tags={PARENT: parent_id, KIND: CONFIRMATION, ROLE: CONFIRMATION, SWEEP_ID: sweep_id, SEED: str(seed),
                      CONFIRMS: candidate.confirms, HEADLINE: "; ".join(candidate.roles), "calray.mixture": candidate.label},
                params={**params, **mixture},
            )
            run = tracker.client.get_run(run_id)
            if OBJECTIVE in run.data.metrics:  # confirmed before a resume
                tracker.finish(run_id)
                done.append(Confirmation(candidate.roles, candidate.weights, seed, run_id, True, dict(run.data.metrics)))
                continue
            job = sequential.make_job(candidate.weights, seed=seed, limit=c.confirm.limit,
                                      name=f"{c.name}:confirm:{candidate.label}:{seed}"[:120])
            pending[pool.submit(job)] = (candidate, seed, run_id)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        candidate, seed, run_id = pending.pop(ready[0])
        result = ray.get(ready[0])
        if not result.ok:
            tracker.set_tags(run_id, {"calray.error": str(result.error.reason if result.error else "failed")})
            tracker.finish(run_id, "FAILED")
            done.append(Confirmation(candidate.roles, candidate.weights, seed, run_id, False))
            log.warning("confirmation of %s (seed %d) failed: %s", candidate.label, seed, result.error)
            continue
        metrics = tracked_metrics(sequential.report(result, limit=None))
        tracker.log_metrics(run_id, metrics)
        log_job_result(tracker, run_id, result.to_dict())
        tracker.finish(run_id)
        done.append(Confirmation(candidate.roles, candidate.weights, seed, run_id, True, metrics))
        log.info("[confirmed %d/%d] %s seed %d: %s %.2f (%.0fs)", len(done), len(todo) * len(seeds), candidate.label,
                 seed, OBJECTIVE, metrics.get(OBJECTIVE, float("nan")), time.time() - started)
    return done
