"""``calray prune``: prune a causal LM layer by layer on calibration text and save it with its report.

    calray prune --model toy --method sparsegpt --sparsity 0.6 --mix toy:gsm=64 --seqlen 128 --out pruned/
    calray prune --model toy --method wanda --n-m 2:4 --calib notes.txt --nsamples 16 --seqlen 128 --out pruned-24/
    calray prune --model meta-llama/Llama-3.1-8B --device cuda --method sparsegpt --n-m 2:4 \\
        --mix c4=64,gsm8k=64 --out llama-8b-2of4/

Calibration windows come from ``calray.data`` (sources, mixtures, the window cache); the
report records the mixture, its id and the per-source sample counts.
"""

from __future__ import annotations

import argparse

from calray.cli.calib_options import add_calibration_options, calibration_from_args
from calray.cli.choices import PRUNING_METHODS, add_device_option
from calray.cli.format_options import add_format_option
from calray.errors import CalrayError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prune",
        help="prune a model with SparseGPT, Wanda or magnitude on calibration text",
        description="Prune every linear inside the decoder blocks, block by block, each block on the "
        "outputs of the already-pruned ones; write the model (safetensors), its tokenizer and "
        "pruning_report.json to --out.",
    )
    p.add_argument(
        "--model", required=True, help="model directory or hub id; toy = the shipped toy model, tiny:ARCH = a random tiny one"
    )
    p.add_argument("--method", required=True, choices=PRUNING_METHODS, metavar="METHOD",
                   help="a registered pruning method: %(choices)s")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--sparsity", type=float, help="unstructured sparsity in [0, 1), e.g. 0.6")
    target.add_argument("--n-m", dest="n_m", help="N:M semi-structured pattern, e.g. 2:4")
    p.add_argument("--out", required=True, help="output directory (new or empty; written whole or not at all)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out (once the new model is complete)")
    add_device_option(p, where="where each block is pruned")
    add_format_option(p)
    p.add_argument("--storage-device", default="cpu", help="where calibration activations live (default cpu)")
    p.add_argument("--batch-size", type=int, default=8, help="calibration samples per forward (default 8)")
    p.add_argument("--include", nargs="+", default=["*"], metavar="GLOB",
                   help="linears to prune (module-name patterns)")
    p.add_argument("--exclude", nargs="+", default=[], metavar="GLOB", help="linears to leave dense")
    p.add_argument("--no-layer-errors", dest="layer_errors", action="store_false",
                   help="skip the per-linear error (Wanda then keeps only the Hessian diagonal, "
                   "magnitude needs no calibration pass)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_calibration_options(p, seqlen_default=None, file_option=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from calray.atomic import check_output_dir
    from calray.durable import result_path
    from calray.models import resolve_model
    from calray.prune import METHODS, Target, prune_model
    from calray.prune.compressed import check_format
    from calray.prune.driver import check_widths, model_linears
    from calray.prune.model_io import load_pretrained, resolve_seqlen, save_pruned

    check_format(args.format)
    method = METHODS.get(args.method)
    target = Target.parse(sparsity=args.sparsity, n_m=args.n_m)
    out_dir = result_path(args.out)  # never into a Ray job's temporary copy
    check_output_dir(out_dir, overwrite=args.overwrite, what="--out")
    hf_logging.disable_progress_bar()
    model, tokenizer = load_pretrained(resolve_model(args.model))
    selected = model_linears(model, include=args.include, exclude=args.exclude)
    if not any(selected):
        raise CalrayError(f"no linear matches --include {args.include} --exclude {args.exclude}; names look like "
                          f"{next(iter(model_linears(model)[0]))!r}")
    check_widths(selected, target)
    seqlen = resolve_seqlen(args.seqlen, model.config)
    calib = calibration_from_args(args, tokenizer, seqlen=seqlen)
    config = {
        "model": args.model, "method": args.method, "target": str(target), "sparsity": target.sparsity,
        "n_m": list(target.n_m) if target.n_m else None, "mixture": calib.mixture.text(),
        "mixture_id": calib.mixture.id, "counts": calib.counts, "calibration_id": calib.id,
        "nsamples": calib.nsamples, "seqlen": seqlen, "seed": args.seed, "sampling": calib.sampling,
        "include": args.include, "exclude": args.exclude, "layer_errors": args.layer_errors,
    }
    report = prune_model(
        model, calib.input_ids, method, target, device=args.device, storage_device=args.storage_device,
        batch_size=args.batch_size, include=args.include, exclude=args.exclude,
        layer_errors=args.layer_errors, config=config,
    )
    out = save_pruned(model, tokenizer, report, out_dir, overwrite=args.overwrite, format=args.format)
    totals = report.totals()
    error = totals["mean_layer_error"]
    print(
        f"pruned {totals['linears']} linears of {args.model} with {args.method} ({target}): "
        f"sparsity {totals['sparsity']:.4f}"
        + (f", mean layer error {error:.4g}" if error is not None else "")
        + f", {totals['seconds']:.1f}s -> {out}"
    )
    return 0
