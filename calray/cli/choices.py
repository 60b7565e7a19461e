"""``choices`` for options that name a registered thing, read from the registry when first
needed: building the parser (``calray --help``) imports no torch."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator


class Registered:
    """The names of registry ``attribute`` of ``module``, as argparse ``choices``."""

    def __init__(self, module: str, attribute: str) -> None:
        self.module, self.attribute = module, attribute

    def names(self) -> list[str]:
        return list(getattr(importlib.import_module(self.module), self.attribute).names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


PRUNING_METHODS = Registered("calray.prune.methods", "METHODS")


def add_device_option(parser: argparse.ArgumentParser, *, where: str) -> None:
    """``--device``, with one default for every command: the CPU (a GPU is always asked for)."""
    parser.add_argument("--device", default="cpu", help=f"{where}: cpu (the default), cuda, cuda:N or mps")
