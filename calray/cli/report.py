"""``calray report``: the study's findings from the runs recorded in MLflow, as markdown.

    calray report --experiment calray-demo --default toy:web --out report.md
    calray report --tracking-uri http://mlflow.cluster:5000 --experiment paper-scan --scan paper-scan --sweep all
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from calray.cli.tracking_options import add_tracking_options


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="write the paper-style report (Spearman, single-source, mixture tables) of recorded runs",
        description="Read a single-source scan and mixture sweeps back from MLflow and write the study's tables "
        "(retention per source, information metrics vs retention by Spearman rho, best mixture vs best single "
        "source vs uniform vs default, the Pareto front) and short findings, as markdown.")
    p.add_argument("--scan", help="the scan: a sweep name (its newest run), id, or 'all' (default: the newest scan)")
    p.add_argument("--sweep", help="mixture sweeps: a name, id or 'all' (default: the newest sweep that is not a scan)")
    p.add_argument("--default", help="the default calibration source to compare with (e.g. toy:web, c4)")
    p.add_argument("--out", help="write the markdown here (default: print it)")
    add_tracking_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calray.analysis import build_report

    report = build_report(args.tracking_uri, args.experiment, scan=args.scan, sweep=args.sweep, default=args.default)
    given = [(f"--{k.replace('_', '-')}", getattr(args, k)) for k in ("tracking_uri", "experiment", "scan", "sweep", "default")
             if getattr(args, k) is not None]
    text = report.markdown(command=shlex.join(["calray", "report", *(x for kv in given for x in kv)]))
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}: {len(report.trials.rows)} trials of {len(report.scans) + len(report.sweeps)} sweeps")
    else:
        print(text)
    return 0
