"""``calray demo``: the study on the embedded toy world, offline, on the CPU, in minutes.

Dense evaluation, the single-source scan, a small Optuna sweep over mixtures, all recorded in
MLflow (``mlflow.db`` in the working directory); prints the source x dimension retention
table, the Spearman table of information metrics vs retention over the scan (calray.analysis),
the best mixture vs the uniform mix vs the best single source vs the default as confirmed in
sequential mode (seed means, 95% intervals, significance), and how to open MLflow; writes the
paper-style report with its figures (``report.md`` and ``report_figures/``, as ``calray
report`` does) in a few seconds.

    calray demo
    calray demo --set sweep_trials=20 --report study/report.md
"""

from __future__ import annotations

import argparse
from typing import Any

from calray.cli.tracking_options import add_tracking_options
from calray.format import format_table, significant


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="run the study on the toy world (offline, CPU, minutes), tracked in MLflow",
                              description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change a demo setting (see calray.sweep.demo.DemoSettings), e.g. sweep_trials=20")
    p.add_argument("--report", default="report.md", metavar="PATH",
                   help="write the report with its figures here (default: report.md; '' for none)")
    add_tracking_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calray.config import set_option, validate
    from calray.sweep.demo import DemoSettings, run_demo
    from calray.sweep.tracking import tracking_uri

    data: dict[str, Any] = {}
    for assignment in args.overrides:
        set_option(data, assignment)
    settings = validate(DemoSettings, data, "demo settings")
    uri = tracking_uri(args.tracking_uri)
    print(f"calray demo: {settings.model} at {settings.sparsity:g} sparsity ({settings.method}); records in {uri}")
    report = run_demo(settings, tracking_uri=uri, experiment=args.experiment)
    print_report(report, uri=uri, experiment=args.experiment)
    if args.report:
        write_report(report, args.report, uri=uri, experiment=args.experiment)
    return 0


def write_report(report: Any, path: str, *, uri: str, experiment: str) -> None:
    """The demo's scan and sweep as ``calray report`` writes them: markdown and figures."""
    import shlex
    from pathlib import Path

    from calray.analysis import build_report
    from calray.analysis.publish import publish

    selection = ["--scan", report.scan.sweep_id, "--sweep", report.sweep.sweep_id, "--default", report.default_source]
    command = shlex.join(["calray", "report", "--tracking-uri", uri, "--experiment", experiment, *selection, "--out", path])
    study = build_report(uri, experiment, scan=report.scan.sweep_id, sweep=report.sweep.sweep_id, default=report.default_source)
    done = publish(study, Path(path), command=command)
    print(f"\nThe report, with {len(done.figures) // 2} figures: {done.markdown} (again, or as CSV/LaTeX tables: {command} "
          "--format md,csv,tex)")



def print_report(report: Any, *, uri: str, experiment: str) -> None:
    print("\nDense model, per task:")
    print(
        format_table(
            ["task", "metric", "score"], [[t, m, significant(v)] for t, ms in report.dense.items() for m, v in ms.items()]
        )
    )
    header, rows = report.scan.table()
    print("\nRetention per dimension when pruning on each source alone (pruned / dense x 100):")
    print(format_table(header, rows))
    print_spearman(report.scan, uri=uri, experiment=experiment)
    print_confirmed(report.sweep.sweep_id, uri=uri, experiment=experiment, roles=[role for role, _ in report.rows()])
    confirmations = len(report.sweep.confirmations)
    print(f"\n{len(report.scan.trials) + len(report.sweep.trials)} trials and {confirmations} confirmation runs in "
          f"{report.seconds / 60:.1f} minutes, "
          f"recorded in MLflow experiment {experiment!r}. To browse them:")
    print(f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1     # then open http://127.0.0.1:5000")
    from calray.sweep.tracking import DEFAULT_EXPERIMENT, tracking_uri

    where = ("" if uri == tracking_uri(None) else f" --tracking-uri {uri}") + (
        "" if experiment == DEFAULT_EXPERIMENT else f" --experiment {experiment}")
    print(f"  calray runs{where}               # the latest sweep's trials as a table")


def print_confirmed(sweep_id: str, *, uri: str, experiment: str, roles: list[str] | None = None) -> None:
    """The closing table: a sweep's headline rows (``roles``; default all) as confirmed, read back
    from MLflow by calray.analysis as ``calray report`` does, with 95% intervals and the verdicts."""
    from calray.analysis import list_sweeps, open_experiment
    from calray.analysis.confirmed import headline_rows, read_headlines

    tracker = open_experiment(uri, experiment)
    sweep = next(s for s in list_sweeps(tracker) if s.sweep_id == sweep_id)
    headlines = read_headlines(tracker, sweep)
    print("\nThe headlines confirmed in sequential mode (retention, mean over calibration seeds [95% interval]):")
    if headlines is None:
        print("  no confirmation run finished: nothing to report (see the log)")
        return
    header, rows = headline_rows(headlines)
    by_role = {row[0]: row for row in rows}
    missing = ["-", *("n/a" for _ in header[2:-1]), "0"]
    print(format_table(header, [by_role.get(role, [role, *missing]) for role in roles or by_role]))
    print(headlines.sentence())
    if headlines.failed:
        print(f"  note: {headlines.failed} confirmation runs failed and are not in the table")


def print_spearman(scan: Any, *, uri: str, experiment: str) -> None:
    """Spearman rho of each information metric of the calibration set vs each dimension's
    retention over the scan (read back from MLflow by calray.analysis, as ``calray report`` does)."""
    from calray.analysis import load_trials, spearman_table
    from calray.analysis.render import spearman_rows

    trials = load_trials(uri, experiment, sweeps=[scan.sweep_id])
    table = spearman_table(trials.single_source(), dimensions=trials.dimensions)
    print("\nInformation metrics of each calibration set vs retention over the scan (Spearman rho, p; * p < 0.05):")
    print(format_table(*spearman_rows(table)))
    for note in table.notes():
        print(f"  note: {note}")
