"""The ``calray`` command line.

Each subcommand lives in its own module of this package with a ``register(subparsers)``
function; heavy imports (torch, ray, mlflow) happen inside the handlers so that
``calray --help`` stays fast; its docstring's example command lines end the subcommand's
``--help`` (``calray.cli.examples``). A ``CalrayError`` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from calray import __version__
from calray.cli.examples import add_examples
from calray.errors import CalrayError

# Modules that add subcommands, in the order --help lists them.
COMMAND_MODULES: list[str] = [
    "calray.cli.demo",
    "calray.cli.prune",
    "calray.cli.ppl",
    "calray.cli.sources",
    "calray.cli.calib",
    "calray.cli.selfcal",
    "calray.cli.metrics",
    "calray.cli.eval",
    "calray.cli.sweep",
    "calray.cli.runs",
    "calray.cli.report",
    "calray.cli.export",
    "calray.cli.toy",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calray",
        description="Prune language models on calibration mixtures and measure what each capability keeps.",
    )
    parser.add_argument("--version", action="version", version=f"calray {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        before = set(sub.choices)
        module.register(sub)
        for command in set(sub.choices) - before:
            add_examples(sub.choices[command], module.__doc__)
    return parser


def _run(args: argparse.Namespace) -> int:
    """The handler, its shared options checked first (``calray.cli.checks``), with a ``--threads
    N`` option applied for its run only: commands also run in-process (tests, the demo), where a
    changed thread count would outlive them."""
    from calray.cli.checks import check_options

    check_options(args)
    threads = getattr(args, "threads", None)
    if threads is None:
        return int(args.func(args) or 0)
    if threads < 1:
        raise CalrayError(f"--threads must be >= 1, got {threads}")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return int(args.func(args) or 0)
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return _run(args)
    except CalrayError as exc:
        print(f"calray: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C; a sweep's Interrupted also for SIGTERM, with its exit code
        print(f"calray: {exc or 'interrupted'}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 130))
