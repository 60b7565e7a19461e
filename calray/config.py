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


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The mapping a YAML file holds (empty file: ``{}``); a CalrayError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CalrayError(f"{what} {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CalrayError(f"{what} {str(path)!r} is not valid YAML: {exc}") from None
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
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise CalrayError(f"override {assignment!r}: the value is not valid YAML ({exc})") from None
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
