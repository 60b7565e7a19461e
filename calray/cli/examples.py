"""Every subcommand's ``--help`` ends with examples: the command lines of its module docstring.

The docstring is the one place the examples live (the docs and ``--help`` show the same ones,
and a test parses each of them), so a subcommand module only writes its examples, indented,
in its docstring::

    calray sources list 'toy:*'
"""

from __future__ import annotations

import argparse

_PROMPT = "    calray "


def example_lines(doc: str | None) -> list[str]:
    """The example commands of a docstring: its lines that start with ``calray`` (indented four),
    each joined with its backslash-continued lines, comments kept."""
    commands: list[str] = []
    continued = False
    for line in (doc or "").splitlines():
        if continued:
            commands[-1] += "\n" + line.rstrip()
        elif line.startswith(_PROMPT):
            commands.append(line.rstrip())
        else:
            continue
        continued = line.split("#", 1)[0].rstrip().endswith("\\")
    return commands


class ExamplesFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that the examples epilog keeps its lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def add_examples(parser: argparse.ArgumentParser, doc: str | None) -> None:
    """End ``parser``'s help (and its sub-commands') with the examples of ``doc`` that run it."""
    mine = [c for c in example_lines(doc) if f"{c.strip()} ".startswith(f"{parser.prog} ")]
    if mine:
        parser.epilog = "examples:\n" + "\n".join(mine)
        parser.formatter_class = ExamplesFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_examples(child, doc)
