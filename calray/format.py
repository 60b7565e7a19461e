"""How calray prints numbers and tables, in one place: the CLI, the jobs, a sweep's tables and
the analysis report show the same value the same way, and the capability dimensions in one
order (the paper's: general, commonsense, math, code; other dimensions after them, by name).

>>> fixed(80.46), fixed(float("nan")), significant(1.7781), significant(None)
('80.5', 'n/a', '1.778', '-')
>>> ordered_dimensions(["code", "style", "math", "general"])
['general', 'math', 'code', 'style']
>>> print(format_table(["source", "total"], [["toy:gsm", "80.5"]]))
source   total
-------  -----
toy:gsm  80.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

DIMENSION_ORDER: tuple[str, ...] = ("general", "commonsense", "math", "code")


def ordered_dimensions(dimensions: Iterable[str]) -> list[str]:
    """``dimensions`` in the one order every table uses: the paper's four first, others by name."""
    found = set(dimensions)
    return [d for d in DIMENSION_ORDER if d in found] + sorted(found - set(DIMENSION_ORDER))


def fixed(value: float | None, digits: int = 1) -> str:
    """``digits`` decimals (retention, totals); ``n/a`` when undefined (None, NaN, infinite)."""
    return f"{value:.{digits}f}" if value is not None and math.isfinite(value) else "n/a"


def significant(value: float | None) -> str:
    """Four significant digits (scores, perplexities), scientific from 1e5; ``-`` when undefined."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns under a dashed rule, for terminals and logs alike."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
