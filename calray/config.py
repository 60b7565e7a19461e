"""Typed configuration shared by the CLI, the jobs and the tests.

Every config is a pydantic model with ``extra="forbid"``: an unknown or misspelt key is an
error at the door, not a silently ignored setting. ``load_config`` turns a pydantic
``ValidationError`` into a ``CalrayError`` that names each offending field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from calray.errors import CalrayError

M = TypeVar("M", bound="StrictModel")


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


def load_config(model: type[M], path: str | Path, overrides: dict[str, Any] | None = None) -> M:
    """Read a YAML file into ``model``; ``overrides`` (e.g. from the CLI) win over the file."""
    path = Path(path)
    if not path.is_file():
        raise CalrayError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CalrayError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CalrayError(f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}")
    data.update(overrides or {})
    return validate(model, data, f"config {str(path)!r}")
