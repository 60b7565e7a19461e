"""One CLI: every subcommand's --help ends with examples that parse, enumerations are choices
(read from the registries), and the defaults that must agree (experiment, device, dimension
order) agree across commands."""

from __future__ import annotations

import argparse
import shlex

import pytest

from calray.cli import build_parser
from calray.cli.examples import example_lines
from calray.format import DIMENSION_ORDER, ordered_dimensions
from calray.sweep.tracking import DEFAULT_EXPERIMENT


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every parser that runs a command (``calray sources list``, ``calray prune``, ...) by its prog."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.update(commands(child))
    if parser.get_default("func") is not None:
        found[parser.prog] = parser
    return found


COMMANDS = commands(build_parser())


def test_every_command_is_found():
    assert {"calray demo", "calray prune", "calray sources list", "calray toy build", "calray runs"} <= set(COMMANDS)


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_command_help_ends_with_examples_that_parse(prog):
    text = COMMANDS[prog].format_help()
    assert "\nexamples:\n" in text, prog
    examples = example_lines(text.split("\nexamples:\n", 1)[1])
    assert examples and all(e.strip().startswith(prog) for e in examples), text
    for example in examples:
        argv = shlex.split(example.replace("\\\n", " "), comments=True)
        args = build_parser().parse_args(argv[1:])  # exits (SystemExit 2) on an example that does not parse
        assert args.func is COMMANDS[prog].get_default("func")


def test_example_lines_join_continuations_and_skip_prose():
    doc = "Text.\n\n    calray a --x \\\n        --y   # c\n    python other.py\n    calray b\n"
    assert example_lines(doc) == ["    calray a --x \\\n        --y   # c", "    calray b"]


def test_a_pruning_method_outside_the_registry_is_refused_by_argparse(capsys):
    base = ["prune", "--model", "toy", "--sparsity", "0.5", "--out", "x", "--mix", "toy:gsm=4"]
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*base, "--method", "sparsgpt"])
    assert exit_.value.code == 2
    assert "invalid choice: 'sparsgpt' (choose from 'magnitude', 'sparsegpt', 'wanda')" in capsys.readouterr().err
    assert build_parser().parse_args([*base, "--method", "wanda"]).method == "wanda"


def test_one_device_default_and_one_experiment_default_everywhere():
    devices = {prog: p.get_default("device") for prog, p in COMMANDS.items() if "--device" in p._option_string_actions}
    assert len(devices) >= 5 and set(devices.values()) == {"cpu"}, devices
    experiments = {prog: p.get_default("experiment") for prog, p in COMMANDS.items()
                   if "--experiment" in p._option_string_actions and prog != "calray sweep"}  # sweep: the config's
    assert {"calray demo", "calray runs", "calray report", "calray export"} <= set(experiments)
    assert set(experiments.values()) == {DEFAULT_EXPERIMENT}, experiments


def test_one_dimension_order_for_sources_maps_and_tables():
    from calray.data import DIMENSIONS
    from calray.evaluate import capability_map

    assert DIMENSION_ORDER == ("general", "commonsense", "math", "code") == DIMENSIONS
    assert list(capability_map("paper").dimensions) == list(DIMENSION_ORDER) == list(capability_map("toy").dimensions)
    unordered = capability_map({"dimensions": {"code": [{"task": "toy:arc"}], "style": [{"task": "toy:piqa"}],
                                               "general": [{"task": "toy:knowledge"}]}})
    assert list(unordered.dimensions) == ["general", "code", "style"] == ordered_dimensions(["style", "code", "general"])
