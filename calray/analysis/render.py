"""The analysis tables as (header, rows) of strings, for markdown or a terminal, and markdown.

Every table renders through one of the ``*_rows`` functions, so the report (markdown) and the
CLI (plain columns) show the same cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from calray.analysis.stats import SpearmanTable
from calray.analysis.tables import ComparisonRow, MixtureStats, SingleSourceTable, Stat
from calray.format import fixed

Cells = tuple[list[str], list[list[str]]]



def fmt_stat(stat: Stat | None) -> str:
    """``mean ± std`` (std only with several seeds), ``n/a`` when undefined."""
    if stat is None or stat.n == 0:
        return "n/a"
    return fixed(stat.mean) + (f" ± {stat.std:.1f}" if stat.n > 1 and math.isfinite(stat.std) else "")


def fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def spearman_rows(table: SpearmanTable) -> Cells:
    """One row per metric, one ``rho (p)`` cell per dimension; n in the header when it is the
    same everywhere, else in each cell."""
    ns = {c.n for c in table.correlations}
    same_n = len(ns) == 1
    header = ["metric", *(f"{d}" for d in table.dimensions)]
    rows = []
    for m in table.metrics:
        cells = [m]
        for d in table.dimensions:
            c = table.get(m, d)
            text = "-" if not c.tested else f"{c.rho:+.2f} (p={fmt_p(c.p)})" + ("*" if c.p < 0.05 else "")
            if not same_n:
                text += f" n={c.n}"
            cells.append(text)
        rows.append(cells)
    if same_n and ns:
        header[0] = f"metric (n={ns.pop()} {table.unit})"
    return header, rows


def single_source_rows(table: SingleSourceTable) -> Cells:
    seeds = any(m.seeds > 1 for m in table.sources)
    header = ["source", "tag", *table.dimensions, "total"] + (["seeds"] if seeds else [])
    rows = []
    for m in table.sources:
        cells = [m.label, table.tags.get(m.label, "?"),
                 *(_marked(fmt_stat(m.retention[d]), table, d, m.label) for d in [*table.dimensions, "total"])]
        rows.append(cells + ([str(m.seeds)] if seeds else []))
    return header, rows


def _marked(text: str, table: SingleSourceTable, dimension: str, source: str) -> str:
    best = table.best.get(dimension)
    return f"**{text}**" if best is not None and best.source == source else text


def best_source_rows(table: SingleSourceTable) -> Cells:
    header = ["dimension", "best source", "retention", "its tag", "own source?", "the dimension's own sources"]
    rows = []
    for d in table.dimensions:
        b = table.best.get(d)
        if b is None:
            rows.append([d, "-", "n/a", "-", "-", "-"])
            continue
        own = "unknown" if b.own is None else ("yes" if b.own else "no")
        rows.append([d, b.source, fixed(b.retention), b.tag or "?", own, ", ".join(b.own_sources) or "none"])
    return header, rows


def comparison_rows(rows: Sequence[ComparisonRow], dimensions: Sequence[str]) -> Cells:
    header = ["", "mixture", *dimensions, "total", "vs best single"]
    single = next((r.mixture for r in rows if r.what == "best single source"), None)
    base = single.mean("total") if single is not None else math.nan
    out = []
    for r in rows:
        m = r.mixture
        if m is None:
            out.append([r.what, "(none recorded)", *("n/a" for _ in dimensions), "n/a", "n/a"])
            continue
        delta = m.mean("total") - base
        out.append([r.what, m.label, *(fmt_stat(m.retention[d]) for d in dimensions), fmt_stat(m.retention["total"]),
                     f"{delta:+.1f}" if math.isfinite(delta) else "n/a"])
    return header, out


def pareto_rows(front: Sequence[MixtureStats], dimensions: Sequence[str]) -> Cells:
    return ["mixture", *dimensions, "total"], [[m.label, *(fixed(m.mean(d)) for d in [*dimensions, "total"])] for m in front]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])
