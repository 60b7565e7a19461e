"""Typed configuration shared by the CLI, the jobs and the tests.

Every config is a pydantic model with ``extra="forbid"``: an unknown or misspelt key is an
error at the door, not a silently ignored setting. ``load_config`` turns a pydantic
``ValidationError`` into a ``CalrayError`` that names each offending field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from calray.errors import CalrayError

M = TypeVar("M", bound="StrictModel")
_UNEXPANDED = re.compile(r"\$\{?(\w+)")
# Nodes of a document with every alias expanded: far above any real config, far below what
# makes a consumer that walks the data (validation, $VAR expansion) run for minutes.
MAX_YAML_NODES = 100_000


class StrictModel(BaseModel):
    """Base of every calray config: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def format_validation_error(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        given = err.get("input")
        shown = f" (given: {given!r})" if not isinstance(given, dict) and given is not None else ""
        lines.append(f"{loc}: {err['msg']}{shown}")
    return f"invalid {where}: " + "; ".join(lines)


def validate(model: type[M], data: dict[str, Any], where: str) -> M:
    """Build ``model`` from ``data`` or raise a CalrayError naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CalrayError(format_validation_error(exc, where)) from None


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing an alias inside the node it names (a recursive value
    that every consumer would recurse into forever)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.open_anchors:
                mark = event.start_mark
                at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
                raise yaml.YAMLError(f"alias *{event.anchor} refers to the node that contains it{at}")
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.open_anchors.discard(anchor)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes of ``node`` with aliases expanded, counted in time linear in the unexpanded document."""
    if id(node) not in memo:
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        memo[id(node)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(node)]


def load_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` that fails fast, with a CalrayError naming ``where``, on invalid YAML,
    self-referencing aliases and alias bombs ("billion laughs": more than MAX_YAML_NODES nodes
    once expanded)."""
    loader = _GuardedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise CalrayError(f"{where} expands to {size:,} values through its aliases (at most {MAX_YAML_NODES:,}); "
                              "is it an alias bomb?")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise CalrayError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise CalrayError(f"{where} nests too deeply to be a config") from None
    finally:
        loader.dispose()


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The mapping a YAML file holds (empty file: ``{}``); a CalrayError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CalrayError(f"{what} {str(path)!r} does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CalrayError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#x}): "
                          "is it a binary file?") from None
    data = load_yaml(text, f"{what} {str(path)!r}") or {}
    if not isinstance(data, dict):
        raise CalrayError(f"{what} {str(path)!r} must hold a mapping, got {type(data).__name__}")
    return data


def expand_vars(value: Any) -> Any:
    """``$VARS`` and ``~`` expanded in every string of a config (an unset variable is an error)."""
    if isinstance(value, str):
        expanded = os.path.expandvars(os.path.expanduser(value))
        match = _UNEXPANDED.search(expanded)
        if match:
            raise CalrayError(f"config value {value!r} uses ${match.group(1)}, which is not set in the environment")
        return expanded
    if isinstance(value, dict):
        return {k: expand_vars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_vars(v) for v in value]
    return value


def set_option(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` (value read as YAML) to nested ``data``, in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise CalrayError(f"override {assignment!r} is not KEY=VALUE (e.g. search.num_samples=8)")
    value = load_yaml(raw, f"override {assignment!r}: the value")
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise CalrayError(f"override {assignment!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def load_config(model: type[M], path: str | Path, overrides: dict[str, Any] | None = None) -> M:
    """Read a YAML file into ``model``; ``overrides`` (e.g. from the CLI) win over the file."""
    data = read_yaml_mapping(path)
    data.update(overrides or {})
    return validate(model, data, f"config {str(path)!r}")
