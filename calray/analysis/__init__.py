"""Recorded runs -> the study's findings: Spearman tables, single-source and mixture tables,
Pareto fronts, and a paper-style markdown report.

A layer above ``calray.sweep``: it reads what sweeps recorded in MLflow (through
``calray.sweep.tracking``) and never writes; nothing below it imports it, and importing it
does not import torch (no model is needed to analyse runs)::

    from calray.analysis import build_report, load_trials, spearman_table

    report = build_report("sqlite:///mlflow.db", "calray", default="toy:web")
    print(report.markdown())

    trials = load_trials("sqlite:///mlflow.db", "calray", sweeps=["demo-scan"])
    table = spearman_table(trials.single_source(), dimensions=trials.dimensions)
    table.get("perplexity", "math").rho
"""

from calray.analysis.load import (
    SweepInfo,
    TrialRow,
    Trials,
    list_sweeps,
    load_trials,
    open_experiment,
    read_trials,
    select_sweeps,
)
from calray.analysis.render import markdown_table
from calray.analysis.report import Report, build_report
from calray.analysis.stats import Correlation, SpearmanTable, correlate, spearman_table
from calray.analysis.tables import (
    BestSource,
    ComparisonRow,
    MixtureStats,
    SingleSourceTable,
    Stat,
    comparison_table,
    pareto_mixtures,
    single_source_table,
)

__all__ = [
    "BestSource",
    "ComparisonRow",
    "Correlation",
    "MixtureStats",
    "Report",
    "SingleSourceTable",
    "SpearmanTable",
    "Stat",
    "SweepInfo",
    "TrialRow",
    "Trials",
    "build_report",
    "comparison_table",
    "correlate",
    "list_sweeps",
    "load_trials",
    "markdown_table",
    "open_experiment",
    "pareto_mixtures",
    "read_trials",
    "select_sweeps",
    "single_source_table",
    "spearman_table",
]
