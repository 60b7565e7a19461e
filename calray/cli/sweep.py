"""``calray sweep``: calibration-mixture studies through a pool of shard actors.

    calray sweep --config jobs/configs/toy.yaml
    calray sweep --config jobs/configs/toy.yaml --set search.num_samples=8 --set prune.sparsity=0.6
    calray sweep --config jobs/configs/toy.yaml --resume       # continue an interrupted sweep
    calray sweep --config jobs/configs/toy.yaml --single-source --seeds 0 1 2   # each source alone

Every trial is recorded in MLflow (``calray runs`` lists them); the end prints the mixtures
ranked by the objective and the best one. ``--smoke-test`` shrinks any config to a one-minute
run recorded in a temporary MLflow store.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from calray.cli.tracking_options import add_tracking_options
from calray.format import format_table


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="sweep YAML (see calray/sweep/config.py)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. search.num_samples=8 (repeatable; VALUE is YAML)")
    p.add_argument("--smoke-test", action="store_true",
                   help="a one-minute run of this config: 3 trials, 4 windows, 2 items a task, a temporary MLflow store")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="DIR",
                   help="continue the newest interrupted sweep of this config's name (or the sweep directory DIR). "
                   "A sweep directory is trusted input (resuming unpickles Tune's state): only one you wrote, "
                   "owned by you and writable by no one else, is accepted")
    p.add_argument("--export-top", type=int, metavar="K", help="export the K best pruned models when done")
    p.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray in this process)")
    p.add_argument("--num-cpus", type=int, help="CPUs of a local Ray (default: all)")
    add_tracking_options(p, experiment_default=None)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="search calibration-mixture weights with Ray Tune; every trial tracked in MLflow",
        description="Prune and evaluate one calibration mixture per trial through a pool of shard actors, "
        "proposing mixtures with Optuna (or random, grid, list, single sources), and record retention per "
        "capability dimension in MLflow. See calray/sweep/config.py for the YAML fields.",
    )
    _common(p)
    p.add_argument("--single-source", dest="scan", action="store_true",
                   help="instead of the config's search: every source alone, once per seed (the source x dimension table)")
    p.add_argument("--seeds", type=int, nargs="+", help="with --single-source: calibration seeds (default: the config's)")
    p.set_defaults(func=run)


def load(args: argparse.Namespace) -> Any:
    """The config the arguments describe (overrides, tracking options, smoke mode, scan)."""
    from calray.sweep import load_sweep_config
    from calray.sweep.studies import single_source_config, smoke_overrides

    overrides = list(args.overrides)
    if args.tracking_uri:
        overrides.append(f"tracking.uri={args.tracking_uri}")
    if args.experiment:
        overrides.append(f"tracking.experiment={args.experiment}")
    if args.export_top is not None:
        overrides.append(f"export.top_k={args.export_top}")
    config = load_sweep_config(args.config, overrides=overrides)
    if args.scan:
        config = single_source_config(config, seeds=args.seeds)
    if args.smoke_test:
        config = load_sweep_config(data=config.model_dump(mode="json"), overrides=smoke_overrides(config))
    return config


def run(args: argparse.Namespace) -> int:
    from calray.cluster import init_ray
    from calray.sweep import run_sweep

    config = load(args)
    init_ray(args.address, **({"num_cpus": args.num_cpus} if args.num_cpus else {}))
    result = run_sweep(config, resume=args.resume)
    print_result(result)
    failed = len(result.trials) - len(result.finished())
    if failed:
        print(f"calray: {failed} of {len(result.trials)} trials failed (errors in the log above and on their MLflow runs, "
              "tag calray.error)", file=sys.stderr)
    return 1 if failed else 0


def print_result(result: Any, *, limit: int | None = 30) -> None:
    header, rows = result.table(limit=limit)
    print(f"\nsweep {result.name} {result.sweep_id}: {len(result.finished())}/{len(result.trials)} trials finished "
          f"(retention %, pruned / dense x 100)")
    print(format_table(header, rows))
    best = result.best()
    if best is not None:
        print(f"\nbest: {best.label} ({result.objective.kind} {best.metrics['objective']:.1f}), MLflow run {best.run_id}")
    if result.objective.kind == "pareto":
        print("Pareto front: " + "; ".join(t.label for t in result.front()))
    if result.confirmations:
        from calray.cli.demo import print_confirmed

        print_confirmed(result.sweep_id, uri=result.tracking_uri, experiment=result.experiment)
    print(f"records: {result.tracking_uri} (experiment {result.experiment!r}); `calray runs` lists them")
