"""Write a toy family member's ``dense_scores.json``: every item of the ``toy`` map, and the
harness's fixed ``--limit 30`` subset that tests re-evaluate, with the checkpoint's sha256.

    PYTHONPATH=. python scripts/toy_dense_scores.py --size large     # -> calray/toy/model-large/dense_scores.json

Runs ``calray eval --model toy:SIZE --capabilities toy --threads 1`` (and ``--limit 30``) in
this process and prints the card's table rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHECK_LIMIT = 30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", required=True, help="small, base or large")
    args = parser.parse_args()

    import calray.toy
    from calray.cli import main as calray_main

    name = "toy" if args.size == "base" else f"toy:{args.size}"
    shipped = calray.toy.FAMILY[args.size]
    command = f"calray eval --model {name} --capabilities toy --threads 1"
    results, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, extra in (("full", []), ("check", ["--limit", str(CHECK_LIMIT)])):
            out = Path(tmp) / f"{key}.json"
            started = time.monotonic()
            argv = ["eval", "--model", name, "--capabilities", "toy", "--threads", "1", *extra, "--json", str(out)]
            assert calray_main(argv) == 0
            seconds[key] = round(time.monotonic() - started, 1)
            results[key] = json.loads(out.read_text())["scores"]
    from calray.evaluate import capability_map

    specs = {spec.task: (dimension, spec.resolved_metric) for dimension, group in capability_map("toy").dimensions.items()
             for spec in group}
    tasks = {}
    for task, score in results["full"]["tasks"].items():
        dimension, metric = specs[task]
        tasks[task] = {"dimension": dimension, "metric": metric, "n": score["n"], "score": score["metrics"][metric],
                       "chance": score["chance"].get(metric)}
    record = {
        "model": name,
        "checkpoint_sha256": hashlib.sha256((shipped / "model.safetensors").read_bytes()).hexdigest(),
        "command": command,
        "seconds": {"wall": seconds["full"]},
        "tasks": tasks,
        "check": {
            "command": f"{command} --limit {CHECK_LIMIT}",
            "limit": CHECK_LIMIT,
            "subset": "the harness's --limit subset: 30 items per task drawn with seed 0 (calray.evaluate.tasks.base.subset)",
            "scores": {t: results["check"]["tasks"][t]["metrics"][e["metric"]] for t, e in tasks.items()},
        },
    }
    (shipped / "dense_scores.json").write_text(json.dumps(record, indent=2) + "\n")
    for task, e in tasks.items():
        chance = "-" if e["chance"] is None else f"{e['chance']:.2f}"
        print(f"| {task} | {e['dimension']} | {e['metric']} ({e['n']}) | {e['score']:.4f} | {chance} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
