"""Independent vs sequential pruning mode: trial time, and how far their retentions disagree.

One pool (one pipeline of S stages) runs each mixture once per mode, one trial at a time, as
a sweep would. A sequential trial forwards its calibration windows through the pruned blocks;
an independent trial mixes per-source Hessians of the dense model on the windows the mixture
allocates each source, computed the first time a (source, window count) is used and cached on
the shards, so later mixtures with those allocations cost only the solves and the evaluation.
The mixtures are toy-world sources (toy:web, toy:gsm, toy:code: each alone, then weighted
mixes) and the evaluation is the toy map at a few items per task. Printed per
mixture: trial seconds per mode, total retention per mode and retention per dimension per
mode; then the mean trial times (independent split into first use of a source vs all cached)
and the mean absolute retention difference, in total and per dimension.

    python benchmarks/cluster_modes.py                          # the toy model, 2 stages, 32 x 256 tokens
    python benchmarks/cluster_modes.py --model DIR_OR_NAME      # another model (tiny:llama, a directory...)
    python benchmarks/cluster_modes.py --hidden 512             # a random Llama of that width (toy tokenizer)

Everything is generated or shipped (calray.toy): no data kit, no downloads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.cluster_pipeline import TOY_MAP, add_model_options, subject_model  # noqa: E402
from calray.format import fixed  # noqa: E402

MIXTURES = [
    "toy:web=1",
    "toy:gsm=1",
    "toy:code=1",
    "toy:web=1,toy:gsm=1,toy:code=1",
    "toy:web=0.6,toy:gsm=0.3,toy:code=0.1",
    "toy:web=0.1,toy:gsm=0.2,toy:code=0.7",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--nsamples", type=int, default=32)
    parser.add_argument("--seqlen", type=int, default=256)
    parser.add_argument("--sparsity", type=float, default=0.6)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each shard")
    add_model_options(parser)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="calray-bench-", dir="/tmp"))

    import ray
    import torch

    from calray.cluster import Calibration, Job, PoolConfig, start_pool
    torch.set_num_threads(args.threads)
    model_dir, subject = subject_model(args, tmp)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(tmp / "ray"), log_to_driver=False)
    rows = []
    try:
        config = PoolConfig(model=str(model_dir), pipelines=1, stages=args.stages, cpus_per_shard=2 / args.stages,
                            threads_per_shard=args.threads, dense_cache_dir=str(tmp / "dense"),
                            calibration_cache_dir=str(tmp), stats_dir=str(tmp / "stats"))
        pool = start_pool(config, name="bench-modes")

        def trial(mixture: str, mode: str) -> tuple[float, object]:
            job = Job(calibration=Calibration(mixture=mixture, nsamples=args.nsamples, seqlen=args.seqlen),
                      prune={"sparsity": args.sparsity, "mode": mode}, evaluation={"capability_map": TOY_MAP},
                      calibration_metrics="none", name=mode)
            start = time.perf_counter()
            result = pool.prune_and_evaluate(job)
            assert result.ok, result.error
            return time.perf_counter() - start, result

        trial(MIXTURES[0], "sequential")  # warm-up: dense scores, calibration windows, imports
        seen: set[str] = set()
        for mixture in MIXTURES:
            t_seq, seq = trial(mixture, "sequential")
            new_source = any(part.split("=")[0] not in seen for part in mixture.split(","))
            seen |= {part.split("=")[0] for part in mixture.split(",")}
            t_ind, ind = trial(mixture, "independent")
            rows.append((mixture, t_seq, t_ind, new_source, seq, ind))
        pool.shutdown()
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"subject: {subject}; {args.stages} stages; {args.nsamples} x {args.seqlen} tokens; SparseGPT {args.sparsity:.0%}; "
          f"{args.threads} torch thread(s) per shard")
    print(f"{'mixture':<38} {'seq s':>6} {'ind s':>6}  {'seq total':>9} {'ind total':>9} {'diff':>6}  per dimension (seq/ind)")
    for mixture, t_seq, t_ind, new, seq, ind in rows:
        dims = " ".join(f"{d}={fixed(seq.retention.get(d))}/{fixed(ind.retention.get(d))}" for d in seq.retention)
        mark = "*" if new else " "
        print(f"{mixture:<38} {t_seq:6.2f} {t_ind:6.2f}{mark} {seq.total:9.2f} {ind.total:9.2f} "
              f"{ind.total - seq.total:+6.2f}  {dims}")
    seq_mean = sum(r[1] for r in rows) / len(rows)
    cached = [r[2] for r in rows if not r[3]]
    first = [r[2] for r in rows if r[3]]
    print("* = the independent trial computed the dense statistics of a source it had not seen")
    print(
        f"mean trial: sequential {seq_mean:.2f} s; independent {sum(first) / len(first):.2f} s on first use of a source, "
        f"{sum(cached) / max(len(cached), 1):.2f} s with every source cached "
        f"(x{seq_mean / (sum(cached) / max(len(cached), 1)):.2f} faster)"
    )

    def phase(results: list, name: str) -> float:  # type: ignore[type-arg]
        return sum(r.timings.get(name, 0.0) for r in results) / len(results)

    seqs, inds = [r[4] for r in rows], [r[5] for r in rows]
    print(f"mean phase seconds: sequential prune {phase(seqs, 'prune'):.2f}, evaluate {phase(seqs, 'evaluate'):.2f}; "
          f"independent statistics {phase(inds, 'statistics'):.2f}, prune {phase(inds, 'prune'):.2f}, "
          f"evaluate {phase(inds, 'evaluate'):.2f}")
    diffs = [abs(r[5].total - r[4].total) for r in rows]  # type: ignore[attr-defined]
    print(f"retention total, independent - sequential: mean |diff| {sum(diffs) / len(diffs):.2f} points, max {max(diffs):.2f}")
    per_dim = []
    for d in rows[0][4].retention:
        pairs = [(r[5].retention.get(d), r[4].retention.get(d)) for r in rows]
        signed = [i - s for i, s in pairs if i is not None and s is not None]
        if signed:
            per_dim.append(f"{d} {sum(map(abs, signed)) / len(signed):.2f} (mean signed {sum(signed) / len(signed):+.2f})")
    print("retention per dimension, independent - sequential: mean |diff| " + "; ".join(per_dim))



if __name__ == "__main__":
    main()
