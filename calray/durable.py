"""Where results may be written when calray runs inside a Ray job.

``ray job submit --working-dir .`` runs the entrypoint in Ray's unpacked copy of that
directory (``.../runtime_resources/working_dir_files/_ray_pkg_<hash>``), which Ray deletes
when it needs the space: an MLflow store, a Tune run directory (which ``--resume`` needs) or
exported models written relative to the working directory would vanish with it. So, in
such a job:

- a relative result path (``storage_path``, ``export.dir``, a job's ``output``, ``calray prune
  --out``, ``calray export --out``) is written under ``$CALRAY_RESULTS`` (default
  ``~/calray-results`` on the node running the driver: the head, where cluster.yaml mounts
  that folder from the head's own disk);
- a tracking store inside the working copy (the default ``sqlite:///<cwd>/mlflow.db``, or a
  relative sqlite path) is refused, saying what to set: ``MLFLOW_TRACKING_URI`` (cluster.yaml's
  head serves ``http://127.0.0.1:5000`` and sets it for every job) or an absolute path.

Outside a Ray job nothing changes: relative paths are relative to the working directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from calray.errors import CalrayError

RESULTS_ENV = "CALRAY_RESULTS"
DEFAULT_RESULTS = "~/calray-results"
_JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # what Ray's job supervisor gives the entrypoint
_UNPACKED = "working_dir_files"  # the folder Ray unpacks working directories into


def job_working_dir() -> Path | None:
    """The working directory when it is a Ray job's temporary copy (else None): the process
    is a job entrypoint submitted with a ``working_dir``, or runs inside Ray's unpacked copy."""
    cwd = Path.cwd().resolve()
    try:
        runtime_env = json.loads(os.environ.get(_JOB_CONFIG_ENV) or "{}").get("runtime_env") or {}
    except (ValueError, AttributeError):
        runtime_env = {}
    if runtime_env.get("working_dir") or _UNPACKED in cwd.parts:
        return cwd
    return None


def results_home() -> Path:
    """Where relative result paths go inside a Ray job: ``$CALRAY_RESULTS`` or ``~/calray-results``."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS).expanduser().resolve()


def result_path(path: str | Path) -> Path:
    """``path`` made absolute: relative to the working directory, or to ``results_home()``
    when the working directory is a Ray job's temporary copy."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path.resolve()
    base = results_home() if job_working_dir() is not None else Path.cwd()
    return (base / path).resolve()


def refuse_in_job_copy(path: Path, *, what: str, fix: str) -> None:
    """Raise when ``path`` lies inside a Ray job's temporary working copy (see the module docstring)."""
    copy = job_working_dir()
    if copy is not None and path.resolve().is_relative_to(copy):
        raise CalrayError(
            f"{what} {str(path)!r} is inside this Ray job's working directory, a temporary copy Ray deletes; {fix}"
        )
