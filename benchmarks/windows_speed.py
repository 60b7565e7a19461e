"""Token windows built per second from a large local jsonl source, with and without the cache.

Generates a jsonl corpus in a temporary directory, registers it as a local source, and
times ``source_windows`` side by side:

- first build: ``datasets`` converts the jsonl to Arrow (once per file), then windows;
- no cache: ``use_cache=False`` (documents visited in seeded order and tokenized lazily);
- cache: the second and later builds, which read the window stream's Arrow file.

    python -m benchmarks.windows_speed                 # from the repo root; 20k documents, 128 x 2048
    python -m benchmarks.windows_speed --smoke-test    # seconds, for CI
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from calray.data import FileOrigin, Source, load_tokenizer, source_windows

WORDS = "the of and to in is was for on that with as by at from his her it an were are which this be".split()


def write_corpus(path: Path, docs: int, seed: int = 0) -> int:
    """``docs`` web-like documents of 50 to 1,500 words; returns the file size in bytes."""
    rng = random.Random(seed)
    vocab = WORDS + [f"w{i}" for i in range(5000)]
    with path.open("w") as f:
        for i in range(docs):
            words = rng.choices(vocab, k=rng.randint(50, 1500))
            f.write(json.dumps({"text": " ".join(words) + ".", "id": i}) + "\n")
    return path.stat().st_size


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--nsamples", type=int, default=128)
    parser.add_argument("--seqlen", type=int, default=2048)
    parser.add_argument("--tokenizer", default="tiny", help="'tiny' (byte-level) or a tokenizer folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke-test", action="store_true", help="tiny sizes, to check the script runs")
    args = parser.parse_args()
    if args.smoke_test:
        args.docs, args.nsamples, args.seqlen, args.repeat = 500, 8, 256, 1
    torch.set_num_threads(1)
    tokenizer = load_tokenizer(args.tokenizer)

    with tempfile.TemporaryDirectory(prefix="calray-bench-") as tmp:
        corpus = Path(tmp) / "big.jsonl"
        size = write_corpus(corpus, args.docs)
        print(f"corpus: {args.docs} documents, {size / 1e6:.1f} MB jsonl; tokenizer {args.tokenizer}; "
              f"{args.nsamples} windows x {args.seqlen} tokens")
        source = Source(name="bench", dimension="general", files=FileOrigin((str(corpus),)))
        print(f"{'sampling':14} {'first build':>12} {'no cache':>12} {'cache':>12} {'cache/no-cache':>15}")
        for sampling in ("random-window", "packed"):
            def build(cache: bool, where: str) -> None:
                out = source_windows(tokenizer, source, args.nsamples, seqlen=args.seqlen, sampling=where,
                                     cache_dir=Path(tmp) / where, use_cache=cache)
                assert out.shape == (args.nsamples, args.seqlen)

            first = timed(functools.partial(build, True, sampling))  # includes datasets' jsonl -> Arrow conversion once
            uncached = statistics.median(timed(functools.partial(build, False, sampling)) for _ in range(args.repeat))
            cached = statistics.median(timed(functools.partial(build, True, sampling)) for _ in range(10 * args.repeat))
            rate = lambda s: f"{args.nsamples / s:,.0f}/s"  # noqa: E731
            print(f"{sampling:14} {rate(first):>12} {rate(uncached):>12} {rate(cached):>12} {uncached / cached:>14.0f}x")


if __name__ == "__main__":
    main()
