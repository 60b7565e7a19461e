"""Shared samples of the toy world's splits (generated once per session; a few seconds)."""

from __future__ import annotations

import pytest

from calray.toy.corpus import DOMAINS, documents


@pytest.fixture(scope="session")
def train_docs() -> dict[str, list[str]]:
    return {d: documents(d, "train", 1500) for d in DOMAINS}


@pytest.fixture(scope="session")
def calibration_docs() -> dict[str, list[str]]:
    return {d: documents(d, "calibration", 300) for d in DOMAINS}
