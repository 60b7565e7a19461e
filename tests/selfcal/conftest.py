"""The shipped toy model, loaded once per session for the generator tests (2.2M parameters, CPU)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def toy() -> tuple[Any, Any]:
    import torch

    from calray.models import resolve_model
    from calray.prune.model_io import load_pretrained

    torch.set_num_threads(1)
    return load_pretrained(resolve_model("toy"))
