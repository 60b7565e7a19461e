"""Independent vs sequential mode on the toy world: how far the fast mode's retentions are from
the exact ones, and whether it orders the sources and the mixtures the same way.

In one process, without Ray: for each calibration seed, every source alone (the single-source
scan), the uniform mix and a few flat-Dirichlet mixtures are pruned in sequential mode
(``prune_model``, the paper's setting) and in each independent variant (``prune_mixed``), and
every pruned model is scored with the evaluator on the same items. Independent variants:

- ``full``: each source's statistics from all ``nsamples`` of its windows, mixed by weight
  (the fast mode before allocation: a k-source mixture sees k times the data);
- ``allocated``: each source's statistics from the windows sequential mode allocates it for
  the mixture (``prefix_statistics``), mixed by count;
- ``anchor``: as ``allocated``, but collected on inputs propagated through an anchor pruned in
  sequential mode on the uniform mix (``through=``), which carries pruning error forward.

For a single source ``full`` and ``allocated`` are the same statistics, so they are pruned once.
Printed: per dimension and variant, mean / max / mean signed (independent - sequential)
retention over every (mixture, seed), next to sequential mode's own seed-to-seed difference;
Spearman and Kendall (scipy.stats) of the seed-averaged orderings of the sources and of the
mixtures; and the seconds each mode spends pruning.

    python benchmarks/mode_agreement.py                              # defaults: ~10 min on 2 busy cores
    python benchmarks/mode_agreement.py --sources 'toy:*' --seeds 0 1 2 --mixtures 8 --limit 60
    python benchmarks/mode_agreement.py --sources toy:web toy:gsm --mixtures 1 --seeds 0 --limit 5   # a smoke run

Everything is generated or shipped (calray.toy): no data kit, no downloads.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats as sps  # noqa: E402

from calray.data import allocate, build_calibration, select_sources  # noqa: E402
from calray.evaluate import EvaluationSettings, HFModel, evaluate_capabilities, retention  # noqa: E402
from calray.format import fixed, format_table  # noqa: E402
from calray.models import resolve_model  # noqa: E402
from calray.prune import PruneSettings, adapter_for, embed_samples, load_pretrained, prefix_statistics, prune_mixed, prune_model  # noqa: E402

SOURCES = ["toy:web", "toy:commonsense_qa", "toy:gsm", "toy:code", "toy:random"]  # one per domain, and noise
VARIANTS = ("full", "allocated", "anchor")
UNIFORM = "uniform"
Scores = dict[str, float]  # dimension (and "total") -> retention


def mixtures(sources: list[str], count: int, seed: int) -> dict[str, dict[str, float]]:
    """label -> weights: each source alone, the uniform mix, then ``count`` flat-Dirichlet draws."""
    out = {s: {s: 1.0} for s in sources}
    out[UNIFORM] = dict.fromkeys(sources, 1.0)
    rng = np.random.default_rng(seed)
    for i in range(count):
        draw = rng.dirichlet(np.ones(len(sources)))
        out[f"dirichlet-{i}"] = {s: round(float(w), 4) for s, w in zip(sources, draw, strict=True) if round(float(w), 4) > 0}
    return out


class Bench:
    """The toy model, its dense scores and the settings every pruned copy is made and scored with."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model, self.tokenizer = load_pretrained(resolve_model(args.model))
        self.settings = PruneSettings(sparsity=args.sparsity, batch_size=args.batch_size)
        self.cmap = EvaluationSettings(capability_map=args.capability_map, limit=args.limit).selected_map()
        self.dense = self._scores(self.model)
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def _scores(self, model: Any) -> Any:
        return evaluate_capabilities(HFModel(model, self.tokenizer, batch_size=16, progress=False), self.cmap)

    def retention(self, model: Any) -> Scores:
        report = retention(self._scores(model), self.dense)
        return {**{d: math.nan if v is None else v for d, v in report.dimensions.items()},
                "total": math.nan if report.total is None else report.total}

    def windows(self, weights: dict[str, float], seed: int) -> Any:
        return build_calibration(self.tokenizer, weights, nsamples=self.args.nsamples, seqlen=self.args.seqlen, seed=seed)

    def sequential(self, weights: dict[str, float], seed: int) -> Any:
        pruned = copy.deepcopy(self.model)
        start = time.perf_counter()
        s = self.settings
        prune_model(pruned, self.windows(weights, seed).input_ids, s.pruning_method(), s.target(), batch_size=s.batch_size,
                    progress=False)
        self.seconds["sequential: prune a trial"].append(time.perf_counter() - start)
        return pruned

    def statistics(self, streams: dict[str, torch.Tensor], counts: dict[str, set[int]], through: Any, what: str) -> Any:
        """source -> per block {count: statistics}, one pass over each source's windows."""
        adapter = adapter_for(self.model)
        start = time.perf_counter()
        out = {}
        for source, ids in streams.items():
            hidden = embed_samples(self.model, ids, batch_size=self.settings.batch_size)
            passes = prefix_statistics(adapter.blocks, hidden, adapter.block_args(), counts[source], through=through,
                                       prefix=adapter.blocks_path, batch_size=self.settings.batch_size)
            out[source] = [stats for stats, _ in passes]
        self.seconds[f"{what}: per-source statistics, once per seed"].append(time.perf_counter() - start)
        return out

    def independent(self, parts: list[tuple[float, list[Any]]]) -> Any:
        pruned = copy.deepcopy(self.model)
        adapter = adapter_for(pruned)
        start = time.perf_counter()
        s = self.settings
        prune_mixed(adapter.blocks, parts, s.pruning_method(), s.target(), prefix=adapter.blocks_path)
        self.seconds["independent: solve a trial from mixed statistics"].append(time.perf_counter() - start)
        return pruned


def run_seed(bench: Bench, mixes: dict[str, dict[str, float]], seed: int, variants: list[str],
             log: Callable[[str], None]) -> dict[tuple[str, str], Scores]:
    """(mode or variant, mixture label) -> retention, for one calibration seed."""
    n = bench.args.nsamples
    out: dict[tuple[str, str], Scores] = {}
    anchor = None
    for label, weights in mixes.items():
        pruned = bench.sequential(weights, seed)
        out[("sequential", label)] = bench.retention(pruned)
        log(f"seed {seed} sequential {label}: total {fixed(out[('sequential', label)]['total'])}")
        if label == UNIFORM:
            anchor = pruned
    allocations = {label: {s: c for s, c in allocate(w, n).items() if c > 0} for label, w in mixes.items()}
    sources = sorted({s for w in mixes.values() for s in w})
    counts = {s: {n} | {a[s] for a in allocations.values() if s in a} for s in sources}
    streams = {s: bench.windows({s: 1.0}, seed).input_ids for s in sources}
    dense = bench.statistics(streams, counts, None, "independent")
    through = bench.statistics(streams, counts, adapter_for(anchor).blocks, "anchor") if "anchor" in variants else None
    for variant in variants:
        for label, weights in mixes.items():
            if variant == "full" and len(weights) == 1 and "allocated" in variants:
                continue  # the same statistics as ``allocated``: filled in below
            if variant == "full":
                total = sum(weights.values())
                parts = [(w / total, [block[n] for block in dense[s]]) for s, w in weights.items()]
            else:
                table = through if variant == "anchor" else dense
                parts = [(c / n, [block[c] for block in table[s]]) for s, c in allocations[label].items()]
            out[(variant, label)] = bench.retention(bench.independent(parts))
            log(f"seed {seed} {variant} {label}: total {fixed(out[(variant, label)]['total'])}")
    if "full" in variants and "allocated" in variants:
        out.update({("full", label): out[("allocated", label)] for label, w in mixes.items() if len(w) == 1})
    return out


def difference_rows(results: dict[int, dict[tuple[str, str], Scores]], variants: list[str], labels: list[str],
                    dims: list[str]) -> list[list[str]]:
    rows = []
    for variant in variants:
        for dim in dims:
            diffs = [r[(variant, lb)][dim] - r[("sequential", lb)][dim] for r in results.values() for lb in labels]
            rows.append([variant, dim, fixed(float(np.mean(np.abs(diffs))), 2), fixed(float(np.max(np.abs(diffs))), 2),
                         fixed(float(np.mean(diffs)), 2)])
    seeds = sorted(results)
    if len(seeds) > 1:  # sequential mode's own calibration-seed noise: the floor no fast mode can beat
        for dim in dims:
            diffs = [results[a][("sequential", lb)][dim] - results[b][("sequential", lb)][dim]
                     for i, a in enumerate(seeds) for b in seeds[i + 1 :] for lb in labels]
            rows.append(["sequential seed vs seed", dim, fixed(float(np.mean(np.abs(diffs))), 2),
                         fixed(float(np.max(np.abs(diffs))), 2), "-"])
    return rows


def rank_rows(results: dict[int, dict[tuple[str, str], Scores]], variants: list[str], groups: dict[str, list[str]],
              dims: list[str]) -> list[list[str]]:
    def mean(mode: str, label: str, dim: str) -> float:
        return float(np.mean([r[(mode, label)][dim] for r in results.values()]))

    rows = []
    for variant in variants:
        for dim in dims:
            row = [variant, dim]
            for labels in groups.values():
                exact = [mean("sequential", lb, dim) for lb in labels]
                fast = [mean(variant, lb, dim) for lb in labels]
                row += [fixed(float(sps.spearmanr(exact, fast).statistic), 2),
                        fixed(float(sps.kendalltau(exact, fast).statistic), 2)]
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy")
    parser.add_argument("--sources", nargs="+", default=SOURCES, help="sources or globs (default: one per kind of toy source)")
    parser.add_argument("--mixtures", type=int, default=3, help="flat-Dirichlet mixtures besides the uniform mix")
    parser.add_argument("--mixture-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="calibration seeds")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--nsamples", type=int, default=32)
    parser.add_argument("--seqlen", type=int, default=256)
    parser.add_argument("--sparsity", type=float, default=0.6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--capability-map", default="toy")
    parser.add_argument("--limit", type=int, default=20, help="items per task (every model is scored on the same items)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f}s] {message}", file=sys.stderr, flush=True)

    sources = list(dict.fromkeys(s for pattern in args.sources for s in select_sources(pattern)))
    mixes = mixtures(sources, args.mixtures, args.mixture_seed)
    bench = Bench(args)
    log(f"dense scores on {list(bench.cmap.dimensions)}; {len(mixes)} mixtures x {len(args.seeds)} seeds x "
        f"{1 + len(args.variants)} modes")
    results = {seed: run_seed(bench, mixes, seed, args.variants, log) for seed in args.seeds}
    dims = [*bench.cmap.dimensions, "total"]
    groups = {"sources": sources, "mixtures": [lb for lb in mixes if lb not in sources]}

    print(f"# {len(sources)} sources, {len(groups['mixtures'])} mixtures, seeds {args.seeds}, {args.nsamples} x "
          f"{args.seqlen} tokens, sparsity {args.sparsity}, limit {args.limit} items per task\n")
    print("Retention, independent - sequential, over every (source or mixture, seed):")
    print(format_table(["variant", "dimension", "mean |diff|", "max |diff|", "mean diff"],
                       difference_rows(results, args.variants, list(mixes), dims)))
    print("\nRank agreement with sequential mode (seed-averaged retention):")
    print(format_table(["variant", "dimension", "sources spearman", "sources kendall", "mixtures spearman",
                        "mixtures kendall"], rank_rows(results, args.variants, groups, dims)))
    print("\nSeconds (mean per call):")
    print(format_table(["what", "calls", "mean s"],
                       [[what, str(len(v)), fixed(float(np.mean(v)), 2)] for what, v in bench.seconds.items()]))
    print(f"\nwall {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
