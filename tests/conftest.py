"""Fixtures shared by the whole suite.

- ``shared_dir``: the offline data kit in ``../shared`` (or ``$CALRAY_SHARED``); tests that
  use it skip cleanly when it is absent. Its files are read in place, never copied here.
- ``ray_session``: one local Ray instance per pytest session, with a private temp dir, so
  tests never touch (or stop) any other Ray on the machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_root() -> Path:
    return Path(os.environ.get("CALRAY_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    root = _shared_root()
    if not (root / "data").is_dir():
        pytest.skip(f"offline data kit not found at {root}")
    return root


@pytest.fixture(scope="session")
def stories260k(shared_dir: Path) -> Path:
    path = shared_dir / "models" / "stories260k"
    if not (path / "config.json").is_file():
        pytest.skip(f"stories260k not found at {path}")
    return path


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    tmp = tempfile.mkdtemp(prefix="calray-ray-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = tmp
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
