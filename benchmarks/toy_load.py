"""Load time of the shipped toy model: warm (transformers already imported) vs cold (a fresh process).

    PYTHONPATH=. python benchmarks/toy_load.py [--repeats 5] [--threads 1]

Measured side by side in one run, each the median of ``--repeats``:

- **warm**: ``AutoModelForCausalLM.from_pretrained(MODEL_DIR)`` in a process that has already
  imported transformers and loaded one Llama (what a pool, the demo or a test pays per load);
- **cold, load only**: the first ``from_pretrained`` in a fresh Python process that has
  imported transformers (it also imports transformers' Llama code on first use);
- **cold, with imports**: a fresh process importing transformers and then loading: what
  ``python -c "load the toy model"`` costs from nothing.

torch is imported before every clock starts. The tokenizer's load is timed the same ways.
Prints the times and the cold / warm ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from calray.toy import MODEL_DIR

COLD = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[2]))
t0 = time.perf_counter()
from transformers import AutoModelForCausalLM, AutoTokenizer
t1 = time.perf_counter()
AutoModelForCausalLM.from_pretrained(sys.argv[1])
t2 = time.perf_counter()
AutoTokenizer.from_pretrained(sys.argv[1])
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "model": t2 - t1, "tokenizer": t3 - t2}))
"""


def warm(repeats: int) -> dict[str, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(MODEL_DIR)  # imports the Llama code once
    AutoTokenizer.from_pretrained(MODEL_DIR)
    model, tokenizer = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        AutoModelForCausalLM.from_pretrained(MODEL_DIR)
        t1 = time.perf_counter()
        AutoTokenizer.from_pretrained(MODEL_DIR)
        model.append(t1 - t0)
        tokenizer.append(time.perf_counter() - t1)
    return {"model": statistics.median(model), "tokenizer": statistics.median(tokenizer)}


def cold(repeats: int, threads: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", COLD, str(MODEL_DIR), str(threads)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    w = warm(args.repeats)
    c = cold(args.repeats, args.threads)
    size = (MODEL_DIR / "model.safetensors").stat().st_size / 2**20
    print(f"toy model {MODEL_DIR} ({size:.1f} MiB), median of {args.repeats}, {args.threads} thread(s)")
    print(f"{'':26}{'model':>10}{'tokenizer':>12}")
    print(f"{'warm (in process)':26}{w['model']:>9.3f}s{w['tokenizer']:>11.3f}s")
    print(f"{'cold, load only':26}{c['model']:>9.3f}s{c['tokenizer']:>11.3f}s")
    print(f"{'cold, import + load':26}{c['import'] + c['model']:>9.3f}s{'':>12}(import transformers, then load)")
    print(f"cold / warm model load: {c['model'] / w['model']:.1f}x; importing transformers: {c['import']:.3f}s")


if __name__ == "__main__":
    main()
