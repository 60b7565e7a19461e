"""Command-line options shared by every command that reads calibration data.

``add_sources_file_option`` gives ``--sources-file`` (repeatable; ``$CALRAY_SOURCES`` is
read as well), ``add_calibration_options`` the mixture options (``--mix``, ``--nsamples``,
``--seqlen``, ``--seed``, ``--sampling``, ``--bos``, ``--cache-dir``, ``--no-cache``), and
``calibration_from_args`` turns them into a ``CalibrationSet``. Any command that prunes
or measures on a mixture (``calray prune --mix``, ``calray metrics``) uses these three.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_sources_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources-file",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML file pointing sources at local files or defining new ones (repeatable; "
        "files listed in $CALRAY_SOURCES, separated by ':', are always read)",
    )


def add_calibration_options(
    parser: argparse.ArgumentParser, *, mix_required: bool = True, seqlen_default: int | None = 2048, file_option: bool = False
) -> None:
    """Mixture options; ``file_option`` adds ``--calib FILE`` as an alternative to ``--mix``."""
    group = parser.add_argument_group("calibration data")
    mix_help = ("sources and weights, e.g. c4=0.5,gsm8k=0.5 (weights), c4=64,gsm8k=64 (sample counts) or 'toy:*'; "
                "a path names a file or a `calray selfcal` directory")
    if file_option:
        which = group.add_mutually_exclusive_group(required=True)
        which.add_argument("--mix", metavar="SPEC", help=mix_help)
        which.add_argument(
            "--calib", metavar="PATH",
            help="one local file instead of a mixture: plain text (random windows) or records (.jsonl, .json, "
            ".csv, .parquet with a 'text' field; packed); or a set written by `calray selfcal --out DIR`",
        )
    else:
        group.add_argument("--mix", required=mix_required, metavar="SPEC", help=mix_help)
    group.add_argument("--nsamples", type=int, default=None, help="windows in all (default: the counts' sum, else 128)")
    group.add_argument(
        "--seqlen", type=int, default=seqlen_default,
        help=f"tokens per window (default {seqlen_default or 'the model context, at most 2048'})",
    )
    group.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    group.add_argument(
        "--sampling",
        choices=["random-window", "packed"],
        default=None,
        help="one sampling method for every source (default: each source's own)",
    )
    group.add_argument("--bos", action="store_true", help="start every window with the tokenizer's BOS")
    group.add_argument("--cache-dir", default=None, help="window cache (default $CALRAY_CACHE or ~/.cache/calray)")
    group.add_argument("--no-cache", action="store_true", help="neither read nor write cached windows")
    add_sources_file_option(parser)


def apply_sources_files(args: argparse.Namespace) -> None:
    from calray.data import use_sources_file

    for path in args.sources_file:
        use_sources_file(path)


def calibration_from_args(args: argparse.Namespace, tokenizer: Any, *, seqlen: int | None = None) -> Any:
    """The ``CalibrationSet`` that the options of ``add_calibration_options`` describe.

    ``seqlen`` overrides ``--seqlen`` (e.g. once resolved against the model's context).
    """
    from calray.data import build_calibration, path_source

    apply_sources_files(args)
    mix = path_source(args.calib).name if getattr(args, "calib", None) else args.mix
    return build_calibration(
        tokenizer,
        mix,
        nsamples=args.nsamples,
        seqlen=seqlen or args.seqlen,
        seed=args.seed,
        sampling=args.sampling,
        bos=args.bos,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
    )
