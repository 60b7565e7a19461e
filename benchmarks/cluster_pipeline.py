"""J prune-and-evaluate jobs through an S-stage pipeline of shard actors vs one process.

Both sides do the same work, in one run, side by side: per job, calibration windows from the
toy world's sources (a different mixture each), sequential SparseGPT over every block, and
the toy capability map at a few items per task (``TOY_MAP``); the dense model is evaluated
once on each side. The one-process side is ``prune_model`` + ``HFModel`` in a loop; the
pipeline side submits every job at once to a pool of one S-stage pipeline. On a CPU machine
the gain is bounded by its cores, so the stage utilisation (busy time / wall time per stage,
from the shards' own activity logs) and the time during which different jobs ran on
different stages at once are reported too.

    python benchmarks/cluster_pipeline.py                           # the toy model, 6 jobs, 2 stages
    python benchmarks/cluster_pipeline.py --model DIR_OR_NAME       # another model (tiny:llama, a directory...)
    python benchmarks/cluster_pipeline.py --hidden 512 --blocks 4   # a random Llama of that size (toy tokenizer)

Everything is generated or shipped (calray.toy): no data kit, no downloads.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MIXTURES = ["toy:web=1", "toy:gsm=1", "toy:code=1", "toy:web=1,toy:gsm=1", "toy:instructions=1", "toy:encyclopedia=1"]
# The toy map (calray/evaluate/maps/toy.yaml) at few items per task, so that a run takes minutes:
# perplexity documents and generations cost the most, multiple-choice items little.
TOY_MAP = {
    "name": "toy-bench",
    "dimensions": {
        "general": [{"task": "toy:general_ppl", "metric": "token_perplexity", "limit": 8},
                    {"task": "toy:knowledge", "metric": "acc", "limit": 48}],
        "commonsense": [{"task": "toy:commonsense_ppl", "metric": "token_perplexity", "limit": 8},
                        {"task": "toy:piqa", "metric": "acc", "limit": 48},
                        {"task": "toy:arc", "metric": "acc", "limit": 48}],
        "math": [{"task": "toy:math_ppl", "metric": "token_perplexity", "limit": 8},
                 {"task": "toy:gsm", "metric": "exact_match", "limit": 16}],
        "code": [{"task": "toy:code_ppl", "metric": "token_perplexity", "limit": 8},
                 {"task": "toy:humaneval", "metric": "pass@1", "limit": 12}],
    },
}


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="toy", metavar="DIR_OR_NAME",
                        help="the model: a directory or a name calray.models resolves (default: toy)")
    parser.add_argument("--hidden", type=int, help="use a random Llama of this width (toy tokenizer) instead of --model")
    parser.add_argument("--blocks", type=int, default=4, help="decoder blocks of the --hidden random Llama")


def subject_model(args: argparse.Namespace, tmp: Path) -> tuple[Path, str]:
    """The model directory the options name, and a line describing it."""
    from transformers import AutoConfig

    from calray.models import resolve_model

    if args.hidden:
        return random_llama(tmp / "model", args.hidden, args.blocks), f"random Llama hidden {args.hidden}, {args.blocks} blocks"
    directory = Path(resolve_model(args.model))
    config = AutoConfig.from_pretrained(directory)
    return directory, f"{args.model} ({config.num_hidden_layers} blocks, hidden {config.hidden_size})"


def random_llama(directory: Path, hidden: int, blocks: int) -> Path:
    """A random Llama of the given width with the toy model's tokenizer (vocabulary 2048)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from calray.toy import MODEL_DIR

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 8 // 3,
                         num_hidden_layers=blocks, num_attention_heads=max(hidden // 64, 1), max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def overlap(activity: list[list[tuple[str, str, float, float]]]) -> tuple[float, int]:
    """Seconds during which two or more different jobs were computing on different stages,
    and the most jobs computing at once."""
    events = []
    for stage in activity:
        for what, job, start, end in stage:
            if what in ("prune", "forward") and job != "dense":
                events += [(start, 1, job), (end, -1, job)]
    events.sort()
    running: dict[str, int] = {}
    both, most, last = 0.0, 0, None
    for t, delta, job in events:
        if last is not None and len(running) >= 2:
            both += t - last
        running[job] = running.get(job, 0) + delta
        if running[job] == 0:
            del running[job]
        most = max(most, len(running))
        last = t
    return both, most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--nsamples", type=int, default=32)
    parser.add_argument("--seqlen", type=int, default=256)
    add_model_options(parser)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the one process and of each shard")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="calray-bench-", dir="/tmp"))
    os.environ["RAY_TMPDIR"], os.environ["RAY_AUTH_MODE"] = str(tmp / "ray"), "disabled"

    import ray
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from calray.cluster import Calibration, Job, PoolConfig, start_pool
    from calray.data import build_calibration
    from calray.evaluate import HFModel, capability_map, evaluate_capabilities, retention
    from calray.prune import METHODS, Target, prune_model

    torch.set_num_threads(args.threads)
    model_dir, subject = subject_model(args, tmp)
    cmap = capability_map(TOY_MAP)
    mixtures = [MIXTURES[i % len(MIXTURES)] for i in range(args.jobs)]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    calib = {m: build_calibration(tokenizer, m, nsamples=args.nsamples, seqlen=args.seqlen, cache_dir=tmp).input_ids
             for m in set(mixtures)}  # built (and cached) before either side is timed

    # --- one process ---
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    dense = evaluate_capabilities(HFModel(model, tokenizer, batch_size=16, progress=False), cmap)
    single = []
    for mixture in mixtures:
        pruned = copy.deepcopy(model)
        prune_model(pruned, calib[mixture], METHODS.get("sparsegpt"), Target(sparsity=0.5), batch_size=8, progress=False)
        scores = evaluate_capabilities(HFModel(pruned, tokenizer, batch_size=16, progress=False), cmap)
        single.append(retention(scores, dense).total)
    one_process = time.perf_counter() - start

    # --- the pipeline ---
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(tmp / "ray"), log_to_driver=False)
    try:
        config = PoolConfig(model=str(model_dir), pipelines=1, stages=args.stages, cpus_per_shard=2 / args.stages,
                            threads_per_shard=args.threads, eval_batch_size=16, dense_cache_dir=str(tmp / "dense"),
                            calibration_cache_dir=str(tmp), stats_dir=str(tmp / "stats"))
        pool = start_pool(config, name="bench-pool")
        jobs = [Job(calibration=Calibration(mixture=m, nsamples=args.nsamples, seqlen=args.seqlen), prune={"sparsity": 0.5},
                    evaluation={"capability_map": TOY_MAP}, calibration_metrics="none", name=f"job{i}")
                for i, m in enumerate(mixtures)]
        start, t0 = time.perf_counter(), time.time()
        results = ray.get([pool.submit(j) for j in jobs])
        piped, t1 = time.perf_counter() - start, time.time()
        activity = pool.activity()[0]
        pool.shutdown()
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    assert all(r.ok for r in results), [r.error for r in results]
    diff = max(abs((r.total or 0) - (s or 0)) for r, s in zip(results, single, strict=True))
    print(f"subject: {subject}; "
          f"{args.jobs} jobs of {args.nsamples} x {args.seqlen} tokens, SparseGPT 50%, {args.threads} torch thread(s)")
    print(f"one process:         {one_process:7.2f} s")
    print(f"{args.stages}-stage pipeline:    {piped:7.2f} s   speed-up x{one_process / piped:.2f}   "
          f"(max |retention difference| {diff:.2g})")
    for s, stage in enumerate(activity):
        busy = sum(min(e, t1) - max(b, t0) for _, _, b, e in stage if e > t0 and b < t1)
        pruning = sum(e - b for w, _, b, e in stage if w == "prune" and e > t0)
        print(f"  stage {s}: busy {busy:6.2f} s of {t1 - t0:.2f} s = {100 * busy / (t1 - t0):5.1f}% (pruning {pruning:.2f} s)")
    both, most = overlap(activity)
    print(f"  different jobs computing on different stages at once: {both:.2f} s; at most {most} jobs at once")
    print("  prune intervals per stage (s from the first submission):")
    for s, stage in enumerate(activity):
        spans = [f"{job.split('-')[0]}[{b - t0:.2f},{e - t0:.2f}]" for w, job, b, e in stage if w == "prune" and e > t0]
        print(f"    stage {s}: " + " ".join(spans))


if __name__ == "__main__":
    main()
