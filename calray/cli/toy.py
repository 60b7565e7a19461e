"""``calray toy build``: regenerate the toy world and retrain the toy model.

The shipped family already sits in ``calray/toy/model`` (``--size base``, the default),
``model-small`` and ``model-large``; this command is for changing the world or the models and
for proving the shipped ones can be rebuilt. ``--smoke`` trains a tiny model on a few thousand
tokens, to check the pipeline in seconds.

    calray toy build --size large --out toy-large --device cuda     # ~2 minutes on one GPU
    calray toy build --size small --out toy-small                    # ~15 minutes on one CPU thread
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calray.cli.choices import add_device_option
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
    build.add_argument("--size", default="base", choices=["small", "base", "large"],
                       help="which member of the toy family: small (0.53M parameters), base (2.2M, the shipped `toy`), "
                            "large (7.9M) (default: base)")
    add_device_option(build, where="where the training steps run")
    build.add_argument("--dtype", choices=["float32", "float16"], default=None,
                       help="weights saved as (default: as shipped: float32 for base, float16 for small and large)")
    build.add_argument("--threads", type=int, default=1, help="torch threads (default 1; more only helps on idle cores)")
    build.add_argument("--minutes", type=float, default=None, help="safety stop: save whatever is trained after this long")
    build.add_argument("--tokens", type=int, default=None, help="training tokens (default: the shipped model's)")
    build.add_argument("--seed", type=int, default=None, help="world seed (default: the shipped model's)")
    build.add_argument("--smoke", action="store_true", help="a tiny model on a few thousand tokens, in seconds")
    build.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from calray.config import validate
    from calray.toy.train import SHIPPED_DTYPE, SIZES, ToyTrainConfig, train

    if args.threads < 1:
        raise CalrayError(f"--threads must be >= 1, got {args.threads}")
    settings: dict[str, object] = dict(SMOKE) if args.smoke else dict(SIZES[args.size])
    for key, value in (("tokens", args.tokens), ("seed", args.seed), ("max_minutes", args.minutes)):
        if value is not None:
            settings[key] = value
    cfg = validate(ToyTrainConfig, settings, "toy build options")
    dtype = args.dtype or ("float32" if args.smoke else SHIPPED_DTYPE[args.size])
    where = f"{args.threads} thread(s)" if args.device == "cpu" else args.device
    print(f"training the toy model ({'smoke' if args.smoke else args.size}): {cfg.steps} steps of {cfg.batch_tokens} tokens "
          f"on {where} -> {args.out} ({dtype})")
    report = train(cfg, args.out, threads=args.threads, device=args.device, save_dtype=dtype)
    print(json.dumps({k: report[k] for k in ("parameters", "tokens_seen", "final_loss", "train_seconds", "stopped_early")}))
    return 0
