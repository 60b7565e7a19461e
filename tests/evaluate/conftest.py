"""Models shared by the evaluation tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calray.evaluate import HFModel, LocalData
from calray.tiny import tiny_model, tiny_tokenizer


@pytest.fixture(scope="session")
def stories_lm(stories260k: Path) -> HFModel:
    return HFModel.from_pretrained(stories260k, batch_size=16, progress=False)


@pytest.fixture(scope="session")
def tiny_lm() -> HFModel:
    return HFModel(tiny_model("llama"), tiny_tokenizer(), batch_size=4, progress=False)


@pytest.fixture(scope="session")
def local_data(shared_dir: Path) -> LocalData:
    return LocalData(root=shared_dir / "data")


@pytest.fixture(autouse=True)
def _one_torch_thread() -> object:
    """Tiny models gain nothing from a second thread, and on a shared 2-core machine it
    costs several-fold (threads spin waiting for a busy core)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
