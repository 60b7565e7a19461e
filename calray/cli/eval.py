"""``calray eval``: capability scores of a model and, with ``--dense``, its retention.

    calray eval --model toy --capabilities toy --limit 20
    calray eval --model pruned/ --dense toy --capabilities toy --json retention.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from calray.atomic import check_writable, write_atomic
from calray.cli.choices import add_device_option
from calray.cli.eval_tasks import add_lmeval_options, run_tasks
from calray.errors import CalrayError
from calray.format import format_table, significant


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a model per capability dimension; with --dense, retention against the dense model",
        description="Score MODEL on the tasks of a capability map; with --dense BASE also score BASE (cached "
        "per model fingerprint) and print retention = pruned/dense x100 per task, dimension and in total.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="transformers model directory to evaluate (toy = the shipped toy model, tiny:ARCH = a random tiny one)",
    )
    p.add_argument("--dense", help="the dense (unpruned) model directory (or name, as --model) to compare against")
    p.add_argument("--dims", help="comma-separated dimensions to evaluate (default: all of the map)")
    p.add_argument("--capabilities", default="paper", help="registered map name or YAML file (default: paper)")
    p.add_argument("--limit", type=int, help="cap every task at N items (a fixed deterministic subset)")
    p.add_argument("--max-new-tokens", type=int, help="cap generated tokens per item (smoke runs)")
    p.add_argument("--data", type=Path, help="folder laid out like the offline data kit (shared/data)")
    p.add_argument("--data-config", type=Path, help="YAML LocalData config: {root: DIR, files: {task: PATH}}")
    p.add_argument("--json", type=Path, help="write the full results as JSON to this file")
    p.add_argument("--batch-size", type=_batch_size, default=16,
                   help="rows per forward pass, or 'auto': as many as the device's free memory holds (default: 16)")
    p.add_argument("--backend", choices=["hf", "vllm"], default="hf",
                   help="hf: transformers in this process (default); vllm: vLLM on a GPU (pip install 'calray[vllm]')")
    p.add_argument("--static-cache", action="store_true",
                   help="generate with a static KV cache (compiled by transformers on CUDA where the model supports it)")
    p.add_argument("--max-length", type=int, help="context length (default: the model's, capped at 4096)")
    add_device_option(p, where="where the model runs")
    p.add_argument("--dtype", help="torch dtype name, e.g. bfloat16 (default: the checkpoint's)")
    p.add_argument("--cache-dir", type=Path, help="dense-score cache (default: $CALRAY_CACHE or ~/.cache/calray)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    add_lmeval_options(p)
    p.set_defaults(func=run)




def _batch_size(value: str) -> int | str:
    from calray.evaluate.token_lm import check_batch_size

    try:
        return check_batch_size(value)
    except CalrayError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from calray.evaluate import (
        DenseCache,
        HFModel,
        LocalData,
        capability_map,
        evaluate_capabilities,
        fingerprint_dir,
        load_local_data,
        retention,
    )
    from calray.models import resolve_model

    if args.tasks:
        return run_tasks(args)
    if args.json:
        check_writable(args.json, what="--json")
    model_dir = resolve_model(args.model)
    dense_dir = resolve_model(args.dense) if args.dense else None
    if args.data and args.data_config:
        raise CalrayError("give --data or --data-config, not both")
    data = load_local_data(args.data_config) if args.data_config else LocalData(root=args.data) if args.data else None
    dims = [d.strip() for d in args.dims.split(",") if d.strip()] if args.dims else None
    cmap = capability_map(args.capabilities if not Path(args.capabilities).is_file() else Path(args.capabilities))
    cmap = cmap.select(dims).with_overrides(limit=args.limit, max_new_tokens=args.max_new_tokens)
    options = dict(batch_size=args.batch_size, max_length=args.max_length, device=args.device, dtype=args.dtype,
                   static_cache=args.static_cache)

    def load(path: str) -> Any:
        if args.backend == "vllm":
            from calray.evaluate.vllm_model import VLLMModel

            return VLLMModel.from_pretrained(path, dtype=args.dtype, max_length=args.max_length)
        return HFModel.from_pretrained(path, **options)

    scores = evaluate_capabilities(load(model_dir), cmap, data=data)
    out: dict[str, Any] = {"model": args.model, "scores": scores.to_dict()}
    header = ["dimension", "task", "metric", "n", "chance", "dense", "pruned", "stderr", "retention"]
    rows = [header]
    if dense_dir:
        settings = {k: str(v) for k, v in options.items() if k not in ("batch_size", "static_cache")}
        if args.backend != "hf":  # another engine's numbers are cached apart
            settings["backend"] = args.backend
        cache = DenseCache(args.cache_dir, data=data, settings=settings)
        n_tasks = len({spec.task for specs in cmap.dimensions.values() for spec in specs})

        def compute_dense(cached: dict[str, Any]) -> Any:  # loads the dense model only if needed
            lm = load(dense_dir) if len(cached) < n_tasks else None
            return evaluate_capabilities(lm, cmap, data=data, cached=cached)  # type: ignore[arg-type]

        dense = cache.scores(fingerprint_dir(dense_dir, memo=cache.root / "file-digests"), cmap, compute_dense)
        report = retention(scores, dense)
        out.update(dense_model=args.dense, dense=dense.to_dict(), retention=report.to_dict())
        for t in report.tasks:
            ret = t.note if t.retention is None else f"{t.retention:.1f}"
            rows.append(
                [t.dimension, t.task, t.metric, str(t.n), significant(t.chance), significant(t.dense), significant(t.pruned),
                 significant(t.stderr), ret]
            )
        for dim, value in report.dimensions.items():
            rows.append([dim, "(mean)", "", "", "", "", "", "", "undefined" if value is None else f"{value:.1f}"])
        rows.append(["total", "", "", "", "", "", "", "", "undefined" if report.total is None else f"{report.total:.1f}"])
    else:
        for dim, specs in cmap.dimensions.items():
            for spec in specs:
                s = scores.tasks[spec.task]
                m = spec.resolved_metric
                rows.append([dim, spec.task, m, str(s.n), significant(s.chance.get(m)), "", significant(s.metrics[m]),
                             significant(s.stderr(m)), ""])
    print(format_table(rows[0], rows[1:]))
    if args.json:
        write_atomic(args.json, json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0
