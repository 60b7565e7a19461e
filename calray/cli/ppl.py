"""``calray ppl``: perplexity of a model on a text file, over non-overlapping windows.

    calray ppl --model toy --text calray/toy/README.md --seqlen 128
    calray ppl --model pruned/ --text notes.jsonl --seqlen 256 --device cuda
"""

from __future__ import annotations

import argparse

from calray.cli.choices import add_device_option


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ppl",
        help="perplexity of a model on a text file (non-overlapping windows)",
        description="Print exp(mean next-token NLL) over the non-overlapping windows of --text.",
    )
    p.add_argument(
        "--model", required=True, help="model directory or hub id; toy = the shipped toy model, tiny:ARCH = a random tiny one"
    )
    p.add_argument("--text", required=True, help="plain text, or .jsonl with a 'text' field")
    p.add_argument("--seqlen", type=int, default=None,
                   help="window length (default: the model's context, at most 2048)")
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward (default 4)")
    add_device_option(p, where="where the model runs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from calray.models import resolve_model
    from calray.prune.model_io import load_pretrained, resolve_seqlen
    from calray.prune.perplexity import token_perplexity
    from calray.prune.text import encode, read_texts

    hf_logging.disable_progress_bar()
    model, tokenizer = load_pretrained(resolve_model(args.model))
    seqlen = resolve_seqlen(args.seqlen, model.config)
    tokens = encode(tokenizer, read_texts(args.text))
    ppl, windows = token_perplexity(model.to(args.device), tokens, seqlen=seqlen, batch_size=args.batch_size)
    print(f"perplexity {ppl:.4f} on {args.text} ({windows} windows of {seqlen} tokens)")
    return 0
