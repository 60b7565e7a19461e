"""Examples per second of calray's evaluation, batched vs one example per forward pass.

    PYTHONPATH=. python benchmarks/eval_speed.py [--model DIR] [--data DIR] [--n 64] [--batch-size 16] [--threads 1]
    PYTHONPATH=. python benchmarks/eval_speed.py --smoke-test

Runs a log-likelihood task (arc_easy, 4 choices per item), rolling perplexity (wikitext
articles) and a generation task (gsm8k, 0-shot, 32 new tokens) twice on the same items: once
with ``batch_size`` requests per forward pass and once with 1, and prints both rates and their
ratio. Then the log-likelihood task once more, batched both times, with each item's context
run once and its KV cache copied per choice (``share_prefixes``, the default) vs fed once per
choice, alternating ``--repeats`` times (best of each). Uses stories260k and the offline kit
when found (../shared), else a tiny random model and synthetic items. Scores must agree
between the runs; the script checks that.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from calray.evaluate import (
    AnswerItem,
    ChoiceItem,
    GenerationTask,
    HFModel,
    LocalData,
    MultipleChoiceTask,
    PerplexityTask,
    TextItem,
    get_task,
)
from calray.tiny import tiny_model, tiny_tokenizer

SHARED = Path(__file__).resolve().parents[2] / "shared"


def items_for(data: LocalData | None, n: int):  # type: ignore[no-untyped-def]
    if data is not None:
        mc = get_task("arc_easy").load(data)[0][:n]  # type: ignore[attr-defined]
        docs = sorted(get_task("wikitext").load(data)[0], key=lambda d: len(d.text))[: max(2, n // 16)]  # type: ignore[attr-defined]
        gen = get_task("gsm8k").load(data)[0][:n]  # type: ignore[attr-defined]
        return mc, docs, gen
    mc = [ChoiceItem(f"Question: what is {i} plus {i}?\nAnswer:", (str(2 * i), str(i), str(i + 1), "none"), 0) for i in range(n)]
    docs = [TextItem(" ".join(f"word{j}" for j in range(40 * (i + 1)))) for i in range(max(2, n // 16))]
    gen = [AnswerItem(f"Question: {i} + {i} =\nAnswer:", str(2 * i), str(2 * i)) for i in range(n)]
    return mc, docs, gen


def timed(task, lm):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    score = task.evaluate(lm)
    return score, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="model directory (default: stories260k if present, else a tiny random llama)")
    ap.add_argument("--data", type=Path, help="offline data kit (default: ../shared/data if present)")
    ap.add_argument("--n", type=int, default=64, help="items per task")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of the shared-context comparison")
    ap.add_argument("--smoke-test", action="store_true", help="tiny model, 8 items")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.n, args.max_new_tokens = 8, 8
    model_dir = args.model or (SHARED / "models" / "stories260k")
    data_dir = args.data or (SHARED / "data")
    data = LocalData(root=data_dir) if data_dir.is_dir() and not args.smoke_test else None
    if model_dir.is_dir() and not args.smoke_test:
        base = HFModel.from_pretrained(model_dir, progress=False)
        name = model_dir.name
    else:
        base = HFModel(tiny_model("llama"), tiny_tokenizer(), progress=False)
        name = "tiny random llama"
    mc, docs, gen = items_for(data, args.n)
    tasks = {
        "loglikelihood (arc_easy, 4 choices)": (MultipleChoiceTask(name="mc", items=mc), len(mc)),
        "rolling perplexity (wikitext docs)": (PerplexityTask(name="ppl", items=docs), len(docs)),
        "generation (gsm8k 0-shot)": (
            GenerationTask(name="gen", items=gen, until=("Question:",), max_new_tokens=args.max_new_tokens),
            len(gen),
        ),
    }
    print(f"model: {name}; data: {'offline kit' if data else 'synthetic'}; threads: {args.threads}; "
          f"batch size {args.batch_size} vs 1")
    print(f"{'task':38s} {'items':>5s} {'batched ex/s':>13s} {'one-by-one ex/s':>16s} {'ratio':>6s}")
    for label, (task, n) in tasks.items():
        batched = HFModel(base.model, base.tokenizer, batch_size=args.batch_size, progress=False)
        single = HFModel(base.model, base.tokenizer, batch_size=1, progress=False)
        s_b, t_b = timed(task, batched)
        s_1, t_1 = timed(task, single)
        for metric, value in s_b.metrics.items():  # batching must not change the scores
            assert abs(value - s_1.metrics[metric]) <= 1e-4 * max(1.0, abs(value)), (metric, value, s_1.metrics[metric])
        print(f"{label:38s} {n:5d} {n / t_b:13.1f} {n / t_1:16.1f} {t_1 / t_b:6.2f}")
    task, n = tasks["loglikelihood (arc_easy, 4 choices)"]
    best = {True: float("inf"), False: float("inf")}
    scores = {}
    for _ in range(args.repeats):
        for share in (True, False):
            lm = HFModel(base.model, base.tokenizer, batch_size=args.batch_size, progress=False, share_prefixes=share)
            scores[share], t = timed(task, lm)
            best[share] = min(best[share], t)
    assert scores[True].metrics == scores[False].metrics, (scores[True].metrics, scores[False].metrics)
    print(f"\n{'loglikelihood, batch ' + str(args.batch_size):38s} {'items':>5s} {'context once':>13s} "
          f"{'once per choice':>16s} {'ratio':>6s}")
    print(f"{'(ex/s, best of ' + str(args.repeats) + ')':38s} {n:5d} {n / best[True]:13.1f} {n / best[False]:16.1f} "
          f"{best[False] / best[True]:6.2f}")


if __name__ == "__main__":
    main()
