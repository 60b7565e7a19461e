"""The headline table from confirmation runs only: seed-averaged retention with 95% intervals
and whether the best mixture beats the uniform mix and the best single source significantly.

A sweep that reports a winner confirms its headlines (``calray.sweep.confirm``: sequential
mode, several calibration seeds, every item). ``read_headlines`` reads those runs back (their
``job_result.json`` and ``item_scores.json``) and bootstraps them together
(``calray.analysis.bootstrap``): items paired across every mixture, seeds within each; a
verdict is significant when the interval of the difference in total retention excludes 0.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from calray.analysis.bootstrap import TOTAL, Bootstrap, Interval, RunItems, bootstrap_retention
from calray.analysis.load import SweepInfo
from calray.analysis.tables import ComparisonRow, MixtureStats, Stat
from calray.sweep.tracking import (
    BEST_MIXTURE,
    BEST_SINGLE,
    CONFIRMATION,
    HEADLINE,
    KIND,
    PARENT,
    SEED,
    UNIFORM,
    Tracker,
)

ROLE_ORDER = (BEST_MIXTURE, "top 2", "top 3", "top 4", "top 5", UNIFORM, BEST_SINGLE)


@dataclass(frozen=True)
class Headline:
    """One row: a role (best mixture, uniform mix, ...), its mixture, seeds and intervals."""

    role: str
    label: str
    seeds: int
    retention: dict[str, Interval]  # dimensions and "total"
    weights: dict[str, float]

    def comparison_row(self) -> ComparisonRow:
        """This row as the comparison figure draws it: seed means with the bootstrap intervals."""
        stats = {k: Stat(i.estimate, math.nan, self.seeds, interval=(i.low, i.high)) for k, i in self.retention.items()}
        sources = tuple(s for s, w in self.weights.items() if w > 0)
        return ComparisonRow(self.role, MixtureStats(self.label, sources, self.weights, stats, self.seeds))


@dataclass(frozen=True)
class Verdict:
    """The best mixture against another row, on total retention (paired bootstrap)."""

    other: str
    difference: Interval
    same: bool = False  # the best mixture is that row's mixture

    def text(self) -> str:
        d = self.difference
        if self.same:
            return f"the best mixture is the {self.other}"
        if not math.isfinite(d.estimate):
            return f"the best mixture and the {self.other} cannot be compared (no interval)"
        if d.low > 0:
            how = "beats"
        elif d.high < 0:
            how = "is significantly worse than"
        else:
            how = "does not differ significantly from"
        sig = " significantly" if how == "beats" else ""
        return (f"the best mixture {how} the {self.other}{sig} ({d.estimate:+.1f} [{d.low:+.1f}, {d.high:+.1f}] points, "
                f"{d.confidence:.0%} interval)")


@dataclass
class Headlines:
    sweep: SweepInfo
    rows: list[Headline]
    verdicts: list[Verdict]
    dimensions: list[str]
    items: dict[str, int]  # per task
    failed: int  # confirmation runs that did not finish
    bootstrap: Bootstrap

    def row(self, role: str) -> Headline | None:
        return next((r for r in self.rows if r.role == role), None)

    def sentence(self) -> str:
        """The verdicts, in words, with what they rest on."""
        seeds = sorted({r.seeds for r in self.rows})
        basis = (f"confirmed in sequential mode on {' or '.join(map(str, seeds))} calibration seeds and "
                 f"{sum(self.items.values())} evaluation items; 95% paired bootstrap intervals over items and seeds")
        if not self.verdicts:
            return f"Confirmed headlines ({basis}); no uniform mix or single source to compare the best mixture with."
        text = "; ".join(v.text() for v in self.verdicts)
        return text[0].upper() + text[1:] + f" ({basis})."


def read_headlines(tracker: Tracker, sweep: SweepInfo, *, resamples: int = 1000, seed: int = 0) -> Headlines | None:
    """The confirmed headline table of ``sweep`` (None when it recorded no finished confirmation)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # two small files per run: no bars on stderr
    groups: dict[str, list[RunItems]] = defaultdict(list)
    roles: dict[str, list[str]] = {}
    weights: dict[str, dict[str, float]] = {}
    seeds: dict[str, set[str]] = defaultdict(set)
    failed = 0
    for run in tracker.find({PARENT: sweep.run_id, KIND: CONFIRMATION}):
        if run.info.status != "FINISHED":
            failed += 1
            continue
        label = run.data.tags.get("calray.mixture", run.info.run_id)
        roles[label] = run.data.tags.get(HEADLINE, "").split("; ")
        weights[label] = {k[len("weight/"):]: float(v) for k, v in run.data.params.items() if k.startswith("weight/")}
        seeds[label].add(run.data.tags.get(SEED, "?"))
        groups[label].append(_run_items(tracker, run.info.run_id))
    if not groups:
        return None
    boot = bootstrap_retention(groups, resamples=resamples, seed=seed)
    rows = [Headline(role, label, len(seeds[label]), {k: boot.interval(label, k) for k in boot.keys}, weights[label])
            for label, rs in roles.items() for role in rs]
    rows.sort(key=lambda r: (ROLE_ORDER.index(r.role) if r.role in ROLE_ORDER else len(ROLE_ORDER), r.role))
    labels = {r.role: r.label for r in rows}
    verdicts = [Verdict(other, boot.difference(labels[BEST_MIXTURE], labels[other], TOTAL),
                        labels[BEST_MIXTURE] == labels[other])
                for other in (UNIFORM, BEST_SINGLE) if BEST_MIXTURE in labels and other in labels]
    dims = [k for k in boot.keys if k != TOTAL]
    return Headlines(sweep, rows, verdicts, dims, dict(boot.items), failed, boot)


def headline_rows(headlines: Headlines) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the confirmed table: role, mixture, each dimension and total with its
    interval, seeds."""
    header = ["", "mixture", *headlines.dimensions, "total", "seeds"]
    rows = [[r.role, r.label, *(r.retention[d].text() if d in r.retention else "n/a" for d in headlines.dimensions),
             r.retention[TOTAL].text(), str(r.seeds)] for r in headlines.rows]
    return header, rows


def _run_items(tracker: Tracker, run_id: str) -> RunItems:
    def artifact(name: str) -> dict:
        return json.loads(Path(tracker.client.download_artifacts(run_id, name)).read_text())

    items = artifact("item_scores.json")
    return RunItems(artifact("job_result.json")["tasks"], items["pruned"], items["dense"])
