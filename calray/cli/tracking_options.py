"""Options shared by the commands that read or write MLflow records (sweep, runs, export, demo)."""

from __future__ import annotations

import argparse

from calray.sweep.tracking import DEFAULT_EXPERIMENT


def add_tracking_options(parser: argparse.ArgumentParser, *, experiment_default: str | None = DEFAULT_EXPERIMENT) -> None:
    """``--tracking-uri`` and ``--experiment``; one default experiment for every command, so what
    the demo or a sweep records is what ``runs``, ``report`` and ``export`` read."""
    group = parser.add_argument_group("tracking (MLflow)")
    group.add_argument("--tracking-uri", help="MLflow store: sqlite:///path/mlflow.db or a server URI "
                       "(default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory; refused "
                       "in a Ray job's temporary working copy, see calray/durable.py)")
    group.add_argument("--experiment", default=experiment_default,
                       help=f"MLflow experiment (default: {experiment_default or 'the config'})")
