"""``calray metrics``: information metrics of a calibration set under a model (definitions: calray/data/metrics.py).

    calray metrics --model toy --mix 'toy:*' --nsamples 36 --seqlen 128 --by-source
    calray metrics --model toy --calib calib.arrow --json metrics.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from calray.atomic import check_writable, write_atomic
from calray.cli.calib_options import add_calibration_options, calibration_from_args
from calray.cli.choices import add_device_option
from calray.errors import CalrayError
from calray.format import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics", help="perplexity, repetition, n-gram and vocabulary metrics of a calibration set"
    )
    parser.add_argument(
        "--model", required=True, help="model folder or id ('toy': the shipped toy model; 'tiny:llama' etc.: a random tiny one)"
    )
    parser.add_argument("--tokenizer", default=None, help="tokenizer (default: the model's)")
    parser.add_argument("--calib", default=None, metavar="FILE.arrow", help="a saved calibration set instead of --mix")
    parser.add_argument("--by-source", action="store_true", help="also report each source of the mixture alone")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    add_device_option(parser, where="where the model runs")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the metrics as JSON")
    add_calibration_options(parser, mix_required=False)
    parser.set_defaults(func=metrics_command)


def _load_model(name: str, device: str) -> Any:
    from calray.prune.model_io import load_causal_lm

    model: Any = load_causal_lm(name)
    return model.to(device).eval()


def metrics_command(args: argparse.Namespace) -> int:
    import torch

    from calray.data import CalibrationSet, information_metrics, load_tokenizer, tokenizer_fingerprint
    from calray.models import resolve_model

    if (args.mix is None) == (args.calib is None):
        raise CalrayError("give exactly one of --mix SPEC (build a set) or --calib FILE.arrow (load one)")
    if args.json:
        check_writable(args.json, what="--json")
    device = args.device
    model_dir = resolve_model(args.model)
    tokenizer = load_tokenizer(args.tokenizer or model_dir)
    if args.calib:
        calib = CalibrationSet.load(args.calib)
        if calib.tokenizer != tokenizer_fingerprint(tokenizer):
            raise CalrayError(
                f"{args.calib} was tokenized by another tokenizer than {args.tokenizer or args.model}'s; "
                "rebuild it with this tokenizer (calray calib build --model ...)"
            )
    else:
        calib = calibration_from_args(args, tokenizer)
    model = _load_model(model_dir, device)

    def measure(ids: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():  # scoped: the CLI runs in-process in tests and the demo
            return information_metrics(ids, tokenizer=tokenizer, model=model, batch_size=args.batch_size)

    columns = {"all": measure(calib.input_ids)}
    if args.by_source and len(calib.counts) > 1:
        columns.update({name: measure(calib.select(name)) for name in calib.counts})
    names = list(columns["all"])
    rows = [[metric, *(f"{col[metric]:.4f}" for col in columns.values())] for metric in names]
    print(format_table(["metric", *columns], rows))
    print(f"\nset {calib.id}: {calib.nsamples} x {calib.seqlen} tokens, mixture {calib.mixture.text()}")
    if args.json:
        report = {
            "calibration": {
                "id": calib.id,
                "mixture": calib.mixture.text(),
                "mixture_id": calib.mixture.id,
                "counts": calib.counts,
                "seqlen": calib.seqlen,
                "seed": calib.seed,
                "sampling": calib.sampling,
            },
            "model": args.model,
            "metrics": columns["all"],
            "by_source": {k: v for k, v in columns.items() if k != "all"},
        }
        write_atomic(args.json, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0
