"""``calray eval --tasks NAMES``: lm-evaluation-harness tasks on a calray model, in process or
in shards (``--stages S``: the model split over S Ray actors, ``calray.cluster.sharded_lm``).

    calray eval --model pruned/ --tasks hellaswag,arc_easy --num-fewshot 0 --limit 200 --dense toy
    calray eval --model toy --tasks my_task --include-path my_tasks/ --log-samples samples/
    calray eval --model pruned-70b/ --tasks hellaswag --stages 4 --device cuda --address auto

lm-eval builds the prompts and computes every metric with its standard error; the model is
calray's ``HFModel`` (the same options as the capability maps: --device, --dtype,
--batch-size, --max-length). With ``--dense`` the dense model answers the same items and
each metric gets its retention (pruned / dense x100, inverted for lower-is-better metrics).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from calray.errors import CalrayError
from calray.format import format_table, significant


def add_lmeval_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("lm-evaluation-harness tasks (instead of a capability map; needs calray[lmeval])")
    group.add_argument("--tasks", help="comma-separated lm-eval task names, e.g. hellaswag,arc_easy")
    group.add_argument("--include-path", type=Path, help="folder of your own lm-eval task YAMLs")
    group.add_argument("--num-fewshot", type=int, help="few-shot examples per item (default: each task's own)")
    group.add_argument("--log-samples", type=Path, metavar="DIR",
                       help="write every item (prompt arguments, responses, metrics) to DIR/<task>.jsonl")
    group.add_argument("--stages", type=int,
                       help="evaluate in S shards: the decoder blocks split over S Ray actors (one GPU each with "
                            "--device cuda), for a model larger than one device (default: in this process)")
    group.add_argument("--cpus-per-shard", type=float, default=1.0, help="CPUs Ray reserves per shard (default: 1)")
    group.add_argument("--address", help="Ray cluster for --stages (default: $RAY_ADDRESS, else a local Ray)")


def _check(args: argparse.Namespace) -> list[str]:
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise CalrayError("--tasks names no task; give e.g. --tasks hellaswag,arc_easy")
    clashing = [flag for flag, value in (("--dims", args.dims), ("--data", args.data), ("--data-config", args.data_config),
                                         ("--static-cache", args.static_cache), ("--max-new-tokens", args.max_new_tokens))
                if value]
    if clashing:
        raise CalrayError(f"{', '.join(clashing)} belong(s) to capability maps; lm-eval tasks set these in their YAML")
    if args.num_fewshot is not None and args.num_fewshot < 0:
        raise CalrayError(f"--num-fewshot must be >= 0, got {args.num_fewshot}")
    if args.stages is not None and args.backend != "hf":
        raise CalrayError("--stages shards calray's own model; --backend vllm shards with its own tensor parallelism")
    if args.cpus_per_shard <= 0:
        raise CalrayError(f"--cpus-per-shard must be > 0, got {args.cpus_per_shard}")
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise CalrayError("--tasks runs lm-evaluation-harness, which is not installed: pip install 'calray[lmeval]'") from None
    return tasks


def run_tasks(args: argparse.Namespace) -> int:
    from calray.evaluate import HFModel
    from calray.evaluate.lmeval_run import run_lmeval, scores, task_manager, write_samples
    from calray.evaluate.retention import task_retention
    from calray.models import resolve_model

    tasks = _check(args)
    options = dict(batch_size=args.batch_size, max_length=args.max_length, device=args.device, dtype=args.dtype)
    common: dict[str, Any] = dict(manager=task_manager(tasks, args.include_path), num_fewshot=args.num_fewshot, limit=args.limit)

    def scored(model: str, **extra: Any) -> dict[str, Any]:
        if args.stages is None:
            return run_lmeval(HFModel.from_pretrained(resolve_model(model), **options), tasks, **extra, **common)
        from calray.cluster import init_ray
        from calray.cluster.sharded_lm import sharded_lm

        init_ray(args.address)
        with sharded_lm(resolve_model(model), stages=args.stages, cpus_per_shard=args.cpus_per_shard, **options) as lm:
            return run_lmeval(lm, tasks, **extra, **common)

    results = scored(args.model, log_samples=args.log_samples is not None)
    pruned = scores(results)
    out: dict[str, Any] = {"model": args.model, "tasks": tasks, "results": results["results"],
                           "n-samples": results.get("n-samples"), "configs": results.get("configs")}
    header = ["task", "metric", "filter", "n-shot", "n", "value", "stderr"]
    rows = [[s.task, s.metric, s.filter, str(s.num_fewshot), str(s.n), significant(s.value), significant(s.stderr)]
            for s in pruned]
    if args.dense:
        dense_results = scored(args.dense)
        dense = {(s.task, s.metric, s.filter): s for s in scores(dense_results)}
        higher = results.get("higher_is_better", {})
        header += ["dense", "retention"]
        for row, s in zip(rows, pruned, strict=True):
            base = dense.get((s.task, s.metric, s.filter))
            better = higher.get(s.task, {}).get(s.metric)
            ret = (task_retention(base.value, s.value, higher_is_better=better)
                   if base is not None and better is not None and base.value else None)
            row += [significant(base.value if base else None), "undefined" if ret is None else f"{ret:.1f}"]
        out.update(dense_model=args.dense, dense_results=dense_results["results"])
    print(format_table(header, rows))
    if args.log_samples is not None:
        paths = write_samples(results, args.log_samples)
        print(f"wrote {len(paths)} sample file(s) to {args.log_samples}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0
