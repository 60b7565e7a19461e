"""Fixtures shared by the whole suite.

- ``shared_dir``: the offline data kit in ``../shared`` (or ``$CALRAY_SHARED``); tests that
  use it skip cleanly when it is absent. Its files are read in place, never copied here.
- ``ray_session``: one local Ray instance per pytest session, with a private temp dir, so
  tests never touch (or stop) any other Ray on the machine.
- ``ray_head``: one private Ray head node per session for the ``ray job submit`` tests.
- every test gets a private window cache, the hub offline, no user sources file, and the
  calibration-source registry restored afterwards (autouse ``isolated_sources``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One private Ray head node (``tests/cluster/ray_head.py``) for every ``ray job submit``
    test, as cluster.yaml starts one: no MLflow URI in its environment, and ``CALRAY_RESULTS``
    (``head.results``) a directory outside any job's working copy."""
    from tests.cluster.ray_head import RayHead

    head = RayHead()
    head.env.pop("MLFLOW_TRACKING_URI", None)
    head.results = tmp_path_factory.mktemp("head-disk") / "results"  # type: ignore[attr-defined]
    head.env["CALRAY_RESULTS"] = str(head.results)  # type: ignore[attr-defined]
    with head:
        yield head


@pytest.fixture(autouse=True)
def isolated_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Restore the source registry after each test; no user sources file, a private cache,
    and the hub offline (a test that reached for the network would wait on retries)."""
    import datasets
    import huggingface_hub

    from calray.data import sources as sources_module

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CALRAY_SOURCES", raising=False)
    monkeypatch.setenv("CALRAY_CACHE", str(tmp_path / "calray-cache"))
    saved = sources_module._SOURCES.snapshot()
    loaded = set(sources_module._env_loaded)
    yield
    sources_module._SOURCES.restore(saved)
    sources_module._env_loaded.clear()
    sources_module._env_loaded.update(loaded)


@pytest.fixture(autouse=True)
def no_leaked_torch_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves grad mode off or changes the thread count: the CLI runs
    in-process here, and a leak breaks an unrelated later test (training, timing). Tests of
    Ray (and the cluster's) run the driver on one thread, beside the actors on 2 cores."""
    import torch

    threads = torch.get_num_threads()
    if request.node.get_closest_marker("ray") or {"cluster", "sweep"} & set(request.node.path.parts):
        torch.set_num_threads(1)
    expected = torch.get_num_threads()
    yield
    leaked_grad, leaked_threads = not torch.is_grad_enabled(), torch.get_num_threads() != expected
    torch.set_grad_enabled(True)
    torch.set_num_threads(threads)
    assert not leaked_grad, "the test left torch grad mode disabled"
    assert not leaked_threads, f"the test changed torch's thread count from {expected}"
