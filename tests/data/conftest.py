"""Fixtures for the data layer (the registry and cache isolation is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from calray.tiny import tiny_tokenizer


@pytest.fixture(scope="session")
def tok():
    return tiny_tokenizer()
