"""Models shared by the evaluation tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calray.evaluate import HFModel, LocalData
from calray.testing import tiny_model, tiny_tokenizer


@pytest.fixture(scope="session")
def stories_lm(stories260k: Path) -> HFModel:
    return HFModel.from_pretrained(stories260k, batch_size=16, progress=False)


@pytest.fixture(scope="session")
def tiny_lm() -> HFModel:
    return HFModel(tiny_model("llama"), tiny_tokenizer(), batch_size=4, progress=False)


@pytest.fixture(scope="session")
def local_data(shared_dir: Path) -> LocalData:
    return LocalData(root=shared_dir / "data")
