"""``calray export --run ID --out DIR``: re-prune a recorded trial and save the model.

The run's mixture and seed, and its sweep's config, determine the pruning exactly, so the
saved model is the one the trial evaluated (see calray.sweep.export).

    calray export --run 3f2a9c --out exports/best          # a unique prefix of the run id (`calray runs`)
"""

from __future__ import annotations

import argparse
from typing import Any

from calray.cli.format_options import add_format_option
from calray.cli.tracking_options import add_tracking_options
from calray.errors import CalrayError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="re-prune a recorded sweep trial and save the pruned model",
                              description="Re-prune the trial of MLflow run ID (deterministically, in this process) "
                              "and write the model, its tokenizer and pruning_report.json to --out.")
    p.add_argument("--run", required=True, help="MLflow run id of a trial (or a unique prefix; see `calray runs`)")
    p.add_argument("--out", required=True, help="output directory (new or empty; written whole or not at all)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out (once the new model is complete)")
    add_format_option(p)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    add_tracking_options(p)
    p.set_defaults(func=run)


def resolve_run(tracker: Any, prefix: str) -> str:
    """A full run id from an id or a unique prefix of a trial run's id."""
    from calray.sweep.tracking import KIND

    if len(prefix) == 32:
        return prefix
    hits = [r.info.run_id for r in tracker.find({KIND: "trial"}) if r.info.run_id.startswith(prefix)]
    if len(hits) != 1:
        raise CalrayError(f"run {prefix!r} matches {len(hits)} trial runs of experiment {tracker.experiment!r}; "
                          "give more of its id (see `calray runs`)")
    return hits[0]


def run(args: argparse.Namespace) -> int:
    import torch

    from calray.analysis.load import open_experiment
    from calray.prune.compressed import check_format
    from calray.sweep.export import export_run

    check_format(args.format)
    if args.threads:
        torch.set_num_threads(args.threads)
    tracker = open_experiment(args.tracking_uri, args.experiment)  # reads only: never creates a store
    run_id = resolve_run(tracker, args.run)
    path = export_run(run_id, args.out, tracking_uri=tracker.uri, experiment=args.experiment, overwrite=args.overwrite,
                      format=args.format)
    print(f"exported run {run_id} to {path}")
    return 0
