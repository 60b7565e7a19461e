"""A tiny saved model, the sweep world registered in the test process, sweep configs, one torch thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calray.tiny import save_tiny_model

from .world import setup


@pytest.fixture(autouse=True)
def world() -> Iterator[None]:
    setup()  # the conftest's isolated_sources drops sources after each test: register them again
    yield


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model("llama", tmp_path_factory.mktemp("sweep-llama"), num_blocks=3)


def sweep_config(model_dir: Path, tmp: Path, **sections: Any) -> dict[str, Any]:
    """A small valid sweep over the three tiny sources, recorded in ``tmp``; ``sections`` override."""
    config: dict[str, Any] = {
        "name": "test",
        "model": str(model_dir),
        "setup_modules": ["tests.sweep.world"],
        "pool": {"pipelines": 1, "stages": 1, "cpus_per_shard": 0.5, "eval_batch_size": 4,
                 "dense_cache_dir": str(tmp / "dense"), "calibration_cache_dir": str(tmp / "cache"),
                 "stats_dir": str(tmp / "stats")},
        "space": {"sources": ["tiny:*"]},
        "search": {"algorithm": "optuna", "num_samples": 6, "seed": 0},
        "prune": {"sparsity": 0.5, "batch_size": 4, "mode": "independent"},
        "calibration": {"nsamples": 8, "seqlen": 32},
        "evaluation": {"capability_map": "tiny"},
        "confirm": None,  # tests/sweep/test_confirm.py confirms; the others test the search alone
        "tracking": {"uri": f"sqlite:///{tmp / 'mlflow.db'}", "experiment": "test"},
        "storage_path": str(tmp / "runs"),
    }
    config.update(sections)
    return config

