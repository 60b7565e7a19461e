"""Prune and evaluate a few calibration mixtures through a pool of shard actors.

    ray job submit --working-dir . -- python jobs/prune_eval.py --config jobs/configs/smoke.yaml
    python jobs/prune_eval.py --config jobs/configs/smoke.yaml      # a local Ray in this process

The config (see ``calray.cluster.entry``) names the model, the pool's layout, the capability
map and the jobs; every job is submitted at once and the pool pipelines them. One line per
result is printed, and ``--output`` (or the config's ``output``) gets every ``JobResult`` as
JSON Lines. Exit status: 0 when every job succeeded, 1 when some failed, 2 on a bad config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

# Under `ray job submit --working-dir .` calray is the uploaded copy, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML config (see calray.cluster.entry)")
    parser.add_argument("--output", help="write the results here as JSON Lines (overrides the config)")
    parser.add_argument("--address", help="Ray address (default: $RAY_ADDRESS, set by `ray job submit`, else a local Ray)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from calray.cluster import init_ray, run_prune_eval
    from calray.cluster.entry import load_prune_eval
    from calray.errors import CalrayError

    try:
        config = load_prune_eval(args.config)
        if args.output:
            config = config.model_copy(update={"output": args.output})
        init_ray(args.address)
        results = run_prune_eval(config)
    except CalrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        dims = " ".join(f"{d}={v:.1f}" if v is not None else f"{d}=n/a" for d, v in r.retention.items())
        total = f"{r.total:.1f}" if r.total is not None else "n/a"
        detail = f"retention total={total} {dims}" if r.ok else f"error at {r.error.layer}: {r.error.reason}"  # type: ignore[union-attr]
        print(f"{r.name:<16} {r.mode:<11} {r.status:<6} {detail} ({r.timings.get('total', 0):.1f}s)")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
