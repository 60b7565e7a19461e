"""``calray sources list`` and ``calray sources show NAME``: what calibration data is available.

    calray sources list 'toy:*'
    calray sources list --sources-file my_sources.yaml
    calray sources show toy:gsm -n 2
"""

from __future__ import annotations

import argparse
import textwrap

from calray.cli.calib_options import add_sources_file_option, apply_sources_files
from calray.format import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sources", help="list calibration sources and show samples")
    sub = parser.add_subparsers(dest="sources_command", required=True, metavar="ACTION")

    lister = sub.add_parser("list", help="a table of every registered source")
    lister.add_argument("patterns", nargs="*", metavar="PATTERN", help="only names matching these globs, e.g. 'toy:*'")
    add_sources_file_option(lister)
    lister.set_defaults(func=list_sources)

    show = sub.add_parser("show", help="a source's description and its first records as text")
    show.add_argument("name", help="source name")
    show.add_argument("-n", type=int, default=3, help="how many records (default 3)")
    show.add_argument("--max-chars", type=int, default=1000, help="cut each text at this length (default 1000)")
    show.add_argument("--cache-dir", default=None, help="calray cache (default $CALRAY_CACHE or ~/.cache/calray)")
    add_sources_file_option(show)
    show.set_defaults(func=show_source)


def list_sources(args: argparse.Namespace) -> int:
    from calray.data import get_source, select_sources, source_names

    apply_sources_files(args)
    names = select_sources(args.patterns) if args.patterns else source_names()
    rows = []
    for name in names:
        s = get_source(name)
        origin = s.describe_origin() + (" (!)" if s.warning else "")
        rows.append([name, s.dimension, s.origin, s.sampling, "+".join(s.fields), origin])
    print(format_table(["name", "dimension", "where", "sampling", "fields", "origin"], rows))
    if any(get_source(n).warning for n in names):
        print("\n(!) has a warning: see `calray sources show NAME`")
    if not args.patterns:
        print("\nSelf-calibration: sets the model being pruned writes itself (calray selfcal --method M --out DIR; "
              "then --calib DIR, --mix DIR=w or --sources-file DIR)")
        print(format_table(["method", "paper", "what the model writes"], GENERATORS))
    return 0


GENERATORS = [
    ["selfcal", "Williams et al. 2025", "from BOS alone, scheduled temperature; generations packed to seqlen"],
    ["sgs", "Ji et al. 2024", "continuations of seed-corpus prefixes; top 20% perplexity dropped; random windows"],
    ["igsp", "the seed paper (calray's design)", "varied prompts/decodings; latent dimensions; greedy min seq-rep-4, "
     "balanced perplexity"],
]


def show_source(args: argparse.Namespace) -> int:
    from calray.data import get_source, load_records

    apply_sources_files(args)
    source = get_source(args.name)
    print(f"{source.name}  [{source.dimension}, {source.origin}, sampling {source.sampling}]")
    print(f"origin: {source.describe_origin()}")
    if source.hub is not None and source.origin != "hub":
        print(f"hub id (not used): {source.hub.describe()}")
    if source.description:
        print(textwrap.fill(source.description, 100))
    if source.warning:
        print(f"WARNING: {source.warning}")
    records = load_records(source, cache_dir=args.cache_dir)
    print(f"{len(records)} records")
    for i in range(min(args.n, len(records))):
        text = source.text(records[i])
        cut = text if len(text) <= args.max_chars else text[: args.max_chars] + f" [... {len(text)} chars]"
        print(f"\n--- record {i} ---\n{cut}")
    return 0
