"""A scaling study: the same sweep (usually the single-source scan) over several models of a
family and several pruning targets, one pool per model, every trial tracked in MLflow.

    ray job submit --working-dir . -- python jobs/scaling.py --config jobs/configs/qwen_scaling.yaml
    python jobs/scaling.py --config jobs/configs/tiny_scaling.yaml --smoke-test          # what CI runs
    python jobs/scaling.py --config jobs/configs/toy_scaling.yaml --report scaling.md    # the toy family, offline

The config (``calray.sweep.studies.ScalingConfig``): ``models``, ``sparsities`` and/or ``n_m``,
and ``sweep`` (a sweep config without ``model``). Every sweep is validated before the first
pool starts. Prints one line per (model, target, mixture): retention per dimension.
Exit status: 0 when every sweep finished trials, 1 otherwise, 2 on a bad config.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="scaling YAML (see calray.sweep.studies.ScalingConfig)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field of every sweep, e.g. search.num_samples=8")
    parser.add_argument("--smoke-test", action="store_true", help="shrink every sweep to a smoke run (temporary MLflow)")
    parser.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--report", metavar="PATH", help="also write the scaling report (calray report --scaling) with its "
                        "figure here, for the first pruning target")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from calray.cluster import init_ray
    from calray.errors import CalrayError
    from calray.format import fixed, format_table
    from calray.sweep.studies import run_scaling, scaling_sweeps, smoke_overrides

    try:
        sweeps = scaling_sweeps(args.config, overrides=args.overrides)
        if args.smoke_test:  # one temporary store for the whole study
            where = tempfile.mkdtemp(prefix="calray-smoke-")
            sweeps = scaling_sweeps(args.config, overrides=[*args.overrides, *smoke_overrides(sweeps[0], where=where)])
        init_ray(args.address)
        results = run_scaling(sweeps)
    except CalrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for config, result in zip(sweeps, results, strict=True):
        target = config.prune.n_m or f"{config.prune.sparsity:g}"
        for label, r in sorted(result.by_mixture().items(), key=lambda kv: -kv[1]["total"]):
            rows.append([config.model, target, label, *(fixed(r[d]) for d in result.dimensions), fixed(r["total"])])
    dims = results[0].dimensions if results else []
    print(format_table(["model", "target", "mixture", *dims, "total"], rows))
    print(f"records: {results[0].tracking_uri} (experiment {results[0].experiment!r})" if results else "no sweeps ran")
    if args.report and results:
        from calray.analysis.publish import publish_scaling
        from calray.analysis.scaling import build_scaling

        first = sweeps[0].prune
        target = first.n_m or str(first.sparsity)
        study = build_scaling(results[0].tracking_uri, results[0].experiment, target=target)
        command = f"calray report --scaling --tracking-uri {results[0].tracking_uri} --experiment {results[0].experiment}"
        done = publish_scaling(study, args.report, command=command)
        print(f"report: {done.summary()}")
    return 0 if all(r.finished() for r in results) else 1



if __name__ == "__main__":
    sys.exit(main())
