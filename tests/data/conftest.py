"""Fixtures for the data layer: the tiny tokenizer, a private cache, and a registry that
each test may change freely (it is restored afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calray.data import sources as sources_module
from calray.testing import tiny_tokenizer


@pytest.fixture(scope="session")
def tok():
    return tiny_tokenizer()


@pytest.fixture(autouse=True)
def isolated_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Restore the source registry after each test; no user sources file, a private cache,
    and the hub offline (a test that reached for the network would wait on retries)."""
    import datasets
    import huggingface_hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CALRAY_SOURCES", raising=False)
    monkeypatch.setenv("CALRAY_CACHE", str(tmp_path / "calray-cache"))
    saved = dict(sources_module._SOURCES._items)
    loaded = set(sources_module._env_loaded)
    yield
    sources_module._SOURCES._items.clear()
    sources_module._SOURCES._items.update(saved)
    sources_module._env_loaded.clear()
    sources_module._env_loaded.update(loaded)

