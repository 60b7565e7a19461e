"""Pruning one Llama-like block with one Hessian per *input* vs one per *linear*.

q/k/v read the same normed hidden states and gate/up the same MLP input, so the shared
mode accumulates 4 Hessians and factors 4 instead of 7 each. Both modes run the same
driver (``prune_blocks``) on the same activations, side by side, and must give identical
weights.

    python benchmarks/shared_hessian.py                        # hidden 1024, 8 x 512 tokens, 1 thread
    python benchmarks/shared_hessian.py --hidden 256 --seqlen 128   # a quick smoke run
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from calray.prune import METHODS, Target, adapter_for, collect_statistics, find_linears, prune_blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--nsamples", type=int, default=8)
    parser.add_argument("--seqlen", type=int, default=512)
    parser.add_argument("--method", default="sparsegpt")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per mode")
    # One thread by default: on a shared 2-core machine, two OpenMP threads spinning against
    # other processes made the many small in-place updates of the solver up to 10x slower.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = LlamaConfig(
        vocab_size=256, hidden_size=args.hidden, intermediate_size=args.hidden * 11 // 4, num_hidden_layers=1,
        num_attention_heads=args.hidden // 64, num_key_value_heads=args.hidden // 64, max_position_embeddings=4096,
    )
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    adapter = adapter_for(model)
    block, block_args = adapter.blocks[0], adapter.block_args()
    hidden = torch.randn(args.nsamples, args.seqlen, args.hidden)  # (samples, seq, hidden)
    method, target = METHODS.get(args.method), Target(sparsity=args.sparsity)

    def run(shared: bool) -> tuple[float, float, torch.nn.Module]:
        blocks = torch.nn.ModuleList([copy.deepcopy(block)])
        start = time.perf_counter()
        collect_statistics(blocks[0], find_linears(blocks[0], prefix=""), hidden, block_args, index=0,
                           share_inputs=shared)
        stats_seconds = time.perf_counter() - start
        start = time.perf_counter()
        prune_blocks(blocks, hidden, block_args, method, target, share_inputs=shared, progress=False)
        return time.perf_counter() - start, stats_seconds, blocks[0]

    # Modes alternate and the best of each is kept, so warm-up and load drift hit both alike.
    best: dict[bool, tuple[float, float, torch.nn.Module]] = {}
    for _ in range(args.repeats):
        for shared in (True, False):
            total, stats, pruned = run(shared)
            old = best.get(shared)
            best[shared] = (min(total, old[0]) if old else total, min(stats, old[1]) if old else stats, pruned)
    (shared_total, shared_stats, shared_block), (single_total, single_stats, single_block) = best[True], best[False]
    diff = max((a - b).abs().max().item() for a, b in zip(shared_block.parameters(), single_block.parameters(), strict=True))
    tokens = args.nsamples * args.seqlen
    print(f"{args.method} {target} on one Llama-like block: hidden {args.hidden}, intermediate "
          f"{config.intermediate_size}, {tokens} tokens, {args.threads} threads, best of {args.repeats}")
    print(f"  statistics only : shared {shared_stats:7.3f}s  per-linear {single_stats:7.3f}s  "
          f"ratio {single_stats / shared_stats:.2f}x")
    print(f"  whole block     : shared {shared_total:7.3f}s  per-linear {single_total:7.3f}s  "
          f"ratio {single_total / shared_total:.2f}x")
    print(f"  max |weight difference| between modes: {diff:.3g}")


if __name__ == "__main__":
    main()
