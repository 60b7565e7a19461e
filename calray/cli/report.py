"""``calray report``: the study's findings from the runs recorded in MLflow: markdown with
figures, and the tables as CSV and LaTeX.

    calray report --default toy:web --out report.md
    calray report --out paper/report.md --format md,csv,tex --pareto general,code
    calray report --tracking-uri http://mlflow.cluster:5000 --experiment paper-scan --scan paper-scan --sweep all
    calray report --scaling --experiment toy-scaling --out scaling.md       # jobs/scaling.py's study: retention vs size
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from calray.atomic import check_writable
from calray.cli.tracking_options import add_tracking_options
from calray.errors import CalrayError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="write the paper-style report (tables, figures, CSV/LaTeX exports) of recorded runs",
        description="Read a single-source scan and mixture sweeps back from MLflow and write the study's tables "
        "(retention per source, information metrics vs retention by Spearman rho, best mixture vs best single "
        "source vs uniform vs default, the Pareto front) and short findings, as markdown; with --out, PNG and SVG "
        "figures beside it (<name>_figures/) embedded in the markdown, and the tables as CSV and LaTeX "
        "(<name>_tables/) when --format asks for them.")
    p.add_argument("--scan", help="the scan: a sweep name (its newest run), id, or 'all' (default: the newest scan)")
    p.add_argument("--sweep", help="mixture sweeps: a name, id or 'all' (default: the newest sweep that is not a scan)")
    p.add_argument("--default", help="the default calibration source to compare with (e.g. toy:web, c4)")
    p.add_argument("--out", help="write the markdown here, figures and tables beside it (default: print the markdown)")
    p.add_argument("--format", default="md", metavar="FORMATS",
                   help="comma-separated outputs besides the figures: md, csv, tex (default: md; csv and tex need --out)")
    p.add_argument("--no-figures", action="store_true", help="write no figures")
    p.add_argument("--pareto", metavar="X,Y", help="the two dimensions of the Pareto figure (default: general,math)")
    p.add_argument("--scaling", action="store_true",
                   help="the experiment is a scaling study (jobs/scaling.py): report each model's scan and mixtures and "
                        "draw retention against model size")
    p.add_argument("--target", help="with --scaling: the pruning target to report (a sparsity or n:m) when there are several")
    add_tracking_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calray.analysis import build_report

    formats = _formats(args.format)
    pareto = _pareto(args.pareto)
    if args.out is None and formats - {"md"}:
        raise CalrayError(f"--format {args.format} writes files: give --out report.md (the tables go beside it)")
    if args.out:
        check_writable(args.out, what="--out")
    if args.scaling:
        return _scaling(args, formats)
    if args.target is not None:
        raise CalrayError("--target selects a pruning target of a scaling study: give it with --scaling")
    report = build_report(args.tracking_uri, args.experiment, scan=args.scan, sweep=args.sweep, default=args.default)
    command = _command(args, ("tracking_uri", "experiment", "scan", "sweep", "default"))
    if not args.out:
        print(report.markdown(command=command))
        return 0
    from calray.analysis.publish import publish

    done = publish(report, Path(args.out), formats=formats, figures=not args.no_figures, command=command, pareto=pareto)
    print(f"wrote {done.summary()}: {len(report.trials.rows)} trials of {len(report.scans) + len(report.sweeps)} sweeps")
    return 0


def _scaling(args: argparse.Namespace, formats: set[str]) -> int:
    from calray.analysis.scaling import build_scaling

    if args.scan or args.sweep or args.pareto:
        raise CalrayError("--scaling reads every model's newest scan and mixture sweep; drop --scan, --sweep and --pareto")
    study = build_scaling(args.tracking_uri, args.experiment, target=args.target, default=args.default)
    command = _command(args, ("tracking_uri", "experiment", "target", "default"), flags=("--scaling",))
    if not args.out:
        print(study.markdown(command=command))
        return 0
    from calray.analysis.publish import publish_scaling

    done = publish_scaling(study, Path(args.out), formats=formats, figures=not args.no_figures, command=command)
    print(f"wrote {done.summary()}: {len(study.trials.rows)} trials of {len(study.models)} models")
    return 0


def _formats(text: str) -> set[str]:
    from calray.analysis.publish import FORMATS

    chosen = {f.strip().lower() for f in text.split(",") if f.strip()}
    unknown = sorted(chosen - set(FORMATS))
    if unknown or not chosen:
        raise CalrayError(f"--format {text!r}: {', '.join(unknown) or 'nothing'} is not an output format; "
                          f"give a comma-separated list of {', '.join(FORMATS)} (e.g. --format md,csv,tex)")
    return chosen


def _pareto(text: str | None) -> list[str] | None:
    if text is None:
        return None
    dims = [d.strip() for d in text.split(",") if d.strip()]
    if len(dims) != 2:
        raise CalrayError(f"--pareto {text!r}: give two dimensions separated by a comma, e.g. --pareto general,math")
    return dims


def _command(args: argparse.Namespace, keys: tuple[str, ...], *, flags: tuple[str, ...] = ()) -> str:
    given = [(f"--{k.replace('_', '-')}", getattr(args, k)) for k in keys if getattr(args, k) is not None]
    return shlex.join(["calray", "report", *flags, *(x for kv in given for x in kv)])
