"""``calray toy build``: regenerate the toy world and retrain the toy model.

The shipped model already sits in ``calray/toy/model``; this command is for changing the
world or the model and for proving the shipped one can be rebuilt. ``--smoke`` trains a
tiny model on a few thousand tokens, to check the pipeline in seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calray.errors import CalrayError

SMOKE = dict(tokens=20_000, vocab_size=400, tokenizer_documents=100, hidden_size=32, intermediate_size=64,
             num_layers=1, num_heads=2, seq_len=64, batch_size=8, warmup_steps=5)


def register(subparsers: argparse._SubParsersAction) -> None:
    toy = subparsers.add_parser("toy", help="the embedded toy world and its model")
    sub = toy.add_subparsers(dest="toy_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="regenerate the toy world and retrain the toy model",
                           description="Regenerate the toy world and retrain the toy model (tokenizer + Llama), "
                                       "saved in Hugging Face format.")
    build.add_argument("--out", type=Path, default=Path("toy-model"), help="output directory (default: ./toy-model)")
    build.add_argument("--threads", type=int, default=1, help="torch threads (default 1; more only helps on idle cores)")
    build.add_argument("--minutes", type=float, default=None, help="safety stop: save whatever is trained after this long")
    build.add_argument("--tokens", type=int, default=None, help="training tokens (default: the shipped model's)")
    build.add_argument("--seed", type=int, default=None, help="world seed (default: the shipped model's)")
    build.add_argument("--smoke", action="store_true", help="a tiny model on a few thousand tokens, in seconds")
    build.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from calray.config import validate
    from calray.toy.train import ToyTrainConfig, train

    if args.threads < 1:
        raise CalrayError(f"--threads must be >= 1, got {args.threads}")
    settings: dict[str, object] = dict(SMOKE) if args.smoke else {}
    for key, value in (("tokens", args.tokens), ("seed", args.seed), ("max_minutes", args.minutes)):
        if value is not None:
            settings[key] = value
    cfg = validate(ToyTrainConfig, settings, "toy build options")
    print(f"training the toy model: {cfg.steps} steps of {cfg.batch_tokens} tokens on {args.threads} thread(s) -> {args.out}")
    report = train(cfg, args.out, threads=args.threads)
    print(json.dumps({k: report[k] for k in ("parameters", "tokens_seen", "final_loss", "train_seconds", "stopped_early")}))
    return 0
