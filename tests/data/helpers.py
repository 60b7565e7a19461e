"""Small builders of test corpora."""

from __future__ import annotations


def words(i: int, n: int) -> str:
    """A document of ``n`` words that name their document ``i`` and position: 'd3w0 d3w1 ...'."""
    return " ".join(f"d{i}w{j}" for j in range(n))
