"""``calray runs``: the sweeps and trials recorded in MLflow, as a table.

    calray runs                                  # the newest sweep's trials, best first
    calray runs --sweep all --sort retention/math --limit 20
    calray runs --kind sweep                     # one line per sweep
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from calray.cli.tracking_options import add_tracking_options
from calray.errors import CalrayError
from calray.format import format_table, ordered_dimensions, significant


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("runs", help="list sweeps and trials recorded in MLflow",
                              description="Read the MLflow store back: trials with their mixture, status and "
                              "retention per dimension, sorted by a metric.")
    p.add_argument("--sweep", default="latest", help="a sweep id, 'latest' (default) or 'all'")
    p.add_argument("--kind", choices=["trial", "sweep", "dense"], default="trial", help="which runs (default trial)")
    p.add_argument("--sort", default="retention/total", help="metric to sort by, best first (default retention/total)")
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    add_tracking_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calray.analysis.load import open_experiment
    from calray.sweep.tracking import KIND, SWEEP_ID

    tracker = open_experiment(args.tracking_uri, args.experiment)
    tags = {KIND: args.kind}
    if args.kind == "trial" and args.sweep != "all":
        sweep = args.sweep
        if sweep == "latest":
            sweeps = tracker.find({KIND: "sweep"})
            if not sweeps:
                raise CalrayError(f"experiment {args.experiment!r} has no sweep yet")
            sweep = sweeps[-1].data.tags[SWEEP_ID]
        tags[SWEEP_ID] = sweep
    runs = tracker.find(tags)
    if not runs:
        print(f"no {args.kind} runs" + (f" in sweep {tags.get(SWEEP_ID)}" if SWEEP_ID in tags else ""))
        return 0
    print(render(runs, kind=args.kind, sort=args.sort, limit=args.limit))
    return 0


def render(runs: list[Any], *, kind: str, sort: str, limit: int | None) -> str:
    """A table of runs: id, name, status, then the sort metric and retention per dimension."""
    from calray.sweep.tracking import metric_key

    sort = metric_key(sort)
    dims = ordered_dimensions({k.split("/", 1)[1] for r in runs for k in r.data.metrics if k.startswith("retention/")}
                              - {"total"})
    if kind == "dense":
        cols = sorted({k for r in runs for k in r.data.metrics if k.startswith("score/")})
    elif kind == "sweep":
        cols = ["trials/finished", "best/objective"]
    else:
        cols = [*(f"retention/{d}" for d in dims), "retention/total", "objective"]
    if sort not in cols and any(sort in r.data.metrics for r in runs):
        cols.append(sort)

    def key(run: Any) -> float:
        value = run.data.metrics.get(sort, math.nan)
        return -value if math.isfinite(value) else math.inf

    ordered = sorted(runs, key=key)[:limit]
    header = ["run", "name", "status", *(c.split("/", 1)[-1] if c.startswith("retention/") else c for c in cols)]
    rows = [[r.info.run_id, r.data.tags.get("mlflow.runName", ""), r.info.status,
             *(significant(r.data.metrics.get(c)) for c in cols)] for r in ordered]
    return format_table(header, rows)
