"""``calray calib build``: draw a calibration set from a mixture and save it as Arrow.

    calray calib build --model toy --mix toy:web=0.5,toy:gsm=0.5 --nsamples 32 --seqlen 128 --out calib.arrow
    calray calib build --model toy --mix toy:gsm=16,toy:code=16 --seqlen 128 --sampling packed --out calib.arrow
"""

from __future__ import annotations

import argparse

from calray.atomic import check_writable
from calray.cli.calib_options import add_calibration_options, calibration_from_args
from calray.format import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("calib", help="build calibration sets from source mixtures")
    sub = parser.add_subparsers(dest="calib_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="draw nsamples x seqlen token windows from a mixture into an Arrow file")
    who = build.add_mutually_exclusive_group(required=True)
    who.add_argument("--tokenizer", help="tokenizer folder or id ('tiny' for calray's byte-level test tokenizer)")
    who.add_argument("--model", help="model folder or id whose tokenizer to use (toy = the shipped toy model)")
    build.add_argument("--out", required=True, metavar="FILE.arrow", help="where to write the calibration set")
    add_calibration_options(build)
    build.set_defaults(func=build_command)


def build_command(args: argparse.Namespace) -> int:
    from calray.data import load_tokenizer
    from calray.models import resolve_model

    check_writable(args.out, what="--out")
    tokenizer = load_tokenizer(args.tokenizer or resolve_model(args.model))
    calib = calibration_from_args(args, tokenizer)
    calib.save(args.out)
    weights = calib.mixture.as_dict()
    rows = [[name, f"{weights[name]:.4g}", str(n), calib.sampling[name]] for name, n in calib.counts.items()]
    print(format_table(["source", "weight", "samples", "sampling"], rows))
    print(
        f"\n{calib.nsamples} x {calib.seqlen} tokens, seed {calib.seed}, mixture {calib.mixture.id}, "
        f"set {calib.id} -> {args.out}"
    )
    return 0
