"""``calray selfcal``: a calibration set written by the model being pruned (Self-Cal, SGS, IGSP).

    calray selfcal --method igsp --model toy --nsamples 32 --seqlen 256 --seed 0 --out sets/igsp
    calray prune --model toy --method sparsegpt --sparsity 0.6 --calib sets/igsp --nsamples 32 --out pruned/
    calray prune ... --mix sets/igsp=0.5,toy:web=0.5

The directory holds the documents (``samples.jsonl``), ``selfcal.json`` (config, information
metrics, IGSP's objective) and a ``sources.yaml`` that makes it a source (``calray.selfcal.store``).
"""

from __future__ import annotations

import argparse

from calray.cli.choices import add_device_option
from calray.format import fixed

_METHODS = ("selfcal", "sgs", "igsp")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "selfcal",
        help="generate a calibration set with the model itself (Self-Cal, SGS, IGSP)",
        description="Sample a calibration set from the dense model and write it to --out as a source "
        "(usable as --calib DIR, in --mix DIR=w, as --sources-file DIR). Cached by model, config and seed.",
    )
    p.add_argument("--method", required=True, choices=_METHODS, help="selfcal (Williams et al.), sgs (Ji et al.) or igsp")
    p.add_argument("--model", required=True, help="model directory or hub id; toy = the shipped toy model")
    p.add_argument("--nsamples", type=int, default=128, help="windows the set must fill (default 128)")
    p.add_argument("--seqlen", type=int, default=None, help="tokens per window (default: the model context, at most 2048)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default=None, help="its source name (default selfcal:METHOD-MODEL-sSEED)")
    p.add_argument("--seed-source", default=None, help="SGS: the corpus whose prefixes are continued (default wikitext2)")
    p.add_argument("--config", default=None, metavar="YAML", help="the generator's knobs (calray.selfcal.config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="one knob, e.g. balance_weight=0.5 or decoding.t_init=1.5")
    p.add_argument("--cache-dir", default=None, help="calray cache (default $CALRAY_CACHE or ~/.cache/calray)")
    p.add_argument("--no-cache", action="store_true", help="generate afresh and leave the cache alone")
    p.add_argument("--sources-file", action="append", default=[], metavar="FILE",
                   help="YAML sources file (e.g. pointing the SGS seed corpus at local files)")
    add_device_option(p, where="where the model generates")
    p.add_argument("--dtype", help="model dtype, e.g. bfloat16 (default: the checkpoint's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from calray.cli.calib_options import apply_sources_files
    from calray.config import read_yaml_mapping, set_option
    from calray.errors import CalrayError
    from calray.models import resolve_model
    from calray.prune.model_io import resolve_seqlen
    from calray.selfcal import generate_set, generator_config

    if args.nsamples < 1:
        raise CalrayError(f"--nsamples must be at least 1, got {args.nsamples}")
    data = read_yaml_mapping(args.config, "generator config") if args.config else {}
    data["method"] = args.method
    if args.seed_source:
        if args.method != "sgs":
            raise CalrayError(f"--seed-source is an SGS knob; --method {args.method} continues no corpus")
        data["seed_source"] = args.seed_source
    for assignment in args.overrides:
        set_option(data, assignment)
    config = generator_config(data)
    apply_sources_files(args)
    hf_logging.disable_progress_bar()
    from transformers import AutoConfig

    seqlen = resolve_seqlen(args.seqlen, AutoConfig.from_pretrained(resolve_model(args.model)))
    made = generate_set(args.model, config, nsamples=args.nsamples, seqlen=seqlen, seed=args.seed, out=args.out,
                        name=args.name, cache_dir=args.cache_dir, use_cache=not args.no_cache, device=args.device,
                        dtype=args.dtype or "auto")
    meta = made.meta
    print(f"{args.method}: {meta['documents']} documents for {args.nsamples} x {seqlen} tokens -> {made.dir} "
          f"(source {made.name})")
    metrics = meta["metrics"]
    print("metrics: " + ", ".join(f"{k} {fixed(metrics[k], 3)}" for k in ("perplexity", "seq_rep_4", "ngram_diversity")))
    if args.method == "igsp":
        s = meta["summary"]
        print(f"objective {fixed(s['objective'], 4)}: seq-rep-4 {fixed(s['seq_rep_4']['selected'], 3)} "
              f"(pool {fixed(s['seq_rep_4']['pool'], 3)}), perplexity spread {fixed(s['perplexity_spread']['selected'], 3)} "
              f"(pool {fixed(s['perplexity_spread']['pool'], 3)})")
    print(f"use: calray prune --calib {made.dir} ... | --mix {made.dir}=0.5,... | --sources-file {made.dir} "
          f"--mix {made.name}=... ; details: {made.dir / 'selfcal.json'}")
    return 0
