"""The paper-style report of an experiment: a scan (each source alone) and mixture sweeps.

``build_report`` picks the runs (the newest scan and the newest mixture sweep of the
experiment unless named), checks they share one pruning setting, computes every table and
the findings; ``Report.markdown()`` writes it up. ``calray report`` and
``analysis/report.py`` are this, on the command line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from calray.analysis.confirmed import Headlines, headline_rows, read_headlines
from calray.analysis.load import (
    SweepInfo,
    Trials,
    list_sweeps,
    open_experiment,
    read_trials,
    select_sweeps,
)
from calray.analysis.render import (
    best_source_rows,
    comparison_rows,
    fmt_p,
    markdown_table,
    pareto_rows,
    single_source_rows,
    spearman_rows,
)
from calray.analysis.stats import EXACT_MAX, Correlation, SpearmanTable, spearman_table
from calray.analysis.tables import (
    ComparisonRow,
    MixtureStats,
    SingleSourceTable,
    comparison_table,
    pareto_mixtures,
    single_source_table,
)
from calray.errors import CalrayError
from calray.format import fixed

ALPHA = 0.05
SMALL_N = 10  # below this, spearmanr's t-approximated p-values are rough


@dataclass
class Report:
    trials: Trials
    scans: list[SweepInfo]
    sweeps: list[SweepInfo]
    setting: dict[str, str]
    dimensions: list[str]
    single: SingleSourceTable
    spearman: SpearmanTable  # over the scan's single sources
    spearman_all: SpearmanTable | None  # over every selected trial (None without mixtures)
    comparison: list[ComparisonRow]
    front: list[MixtureStats]
    default: str | None
    confirmed: Headlines | None = None  # the headlines as the mixture sweep confirmed them

    def headline_comparison(self) -> list[ComparisonRow]:
        """The comparison the figures draw: the confirmed rows (with their bootstrap intervals)
        when the sweep was confirmed, else the search's own comparison."""
        return [r.comparison_row() for r in self.confirmed.rows] if self.confirmed is not None else self.comparison

    # --- findings ---------------------------------------------------------------------------------
    def findings(self, *, alpha: float = ALPHA, limit: int = 8) -> list[str]:
        """Short sentences, each backed by a table of the report."""
        out = self._correlation_findings(alpha=alpha, limit=limit)
        out.append(self._best_source_finding())
        comparison = self._confirmed_finding() if self.confirmed is not None else self._comparison_finding()
        if comparison:
            out.append(comparison)
        if self.front:
            several = sum(len(m.sources) > 1 for m in self.front)
            out.append(f"{len(self.front)} mixture{'s are' if len(self.front) != 1 else ' is'} Pareto-optimal over "
                       f"{', '.join(self.dimensions)} ({several} of them mixing several sources).")
        if self.trials.repeats:
            out.append(f"{self.trials.repeats} single-source trials of the mixture sweeps were left out: the scan measures "
                       "each source alone.")
        skipped = self.trials.skipped
        if skipped:
            out.append(f"{sum(skipped.values())} trial runs were not analysed because they did not finish ("
                       + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) + ").")
        return out

    def _correlation_findings(self, *, alpha: float, limit: int) -> list[str]:
        table = self.spearman
        found = [c for c in table.significant(alpha) if c.dimension != "total"]
        n = max((c.n for c in table.correlations), default=0)
        rough = any(c.tested and not c.exact for c in table.correlations)
        caution = f" (n = {n}: spearmanr's approximate p-values are rough at this size)" if rough and n < SMALL_N else ""
        if not found:
            tested = [c for c in table.correlations if c.tested and c.dimension != "total"]
            if not tested:
                return [f"No information metric could be correlated with retention over the scan's {n} sources (see the notes)."]
            top = min(tested, key=lambda c: c.p)
            return [(f"No information metric correlates with any dimension's retention at p < {alpha:g} over the "
                     f"{n} sources of the scan{caution}; the strongest: {_sentence(top, table.unit)}.")]
        out = [_sentence(c, table.unit, capital=True) + "." for c in found[:limit]]
        if len(found) > limit:
            out.append(f"... and {len(found) - limit} more correlations at p < {alpha:g} (table 2).")
        if caution:
            out[-1] = out[-1][:-1] + caution + "."
        out.append(_bh_finding(table, found, alpha=alpha))
        return out

    def _best_source_finding(self) -> str:
        best = [self.single.best[d] for d in self.dimensions if d in self.single.best]
        leader = self.single.leader()
        own = [b for b in best if b.own]
        parts = [f"{b.dimension} -> {b.source} ({fixed(b.retention)}; "
                 + ("its own" if b.own else "unknown tag" if b.own is None else f"tagged {b.tag}") + ")" for b in best]
        if len(best) == 1:
            head = "Best single source"
        elif leader:
            head = f"{leader} is the best single source on every dimension"
        else:
            head = "No single source is best on every dimension"
        known = [b for b in best if b.own is not None]
        tail = f"; {len(own)} of {len(known)} dimensions are best preserved by one of their own sources" if known else ""
        return f"{head}: " + ", ".join(parts) + tail + "."

    def _confirmed_finding(self) -> str:
        assert self.confirmed is not None
        totals = ", ".join(f"{r.role} ({r.label}) {r.retention['total'].text()}" for r in self.confirmed.rows)
        return f"Confirmed total retention: {totals}. {self.confirmed.sentence()}"

    def _comparison_finding(self) -> str | None:
        rows = {r.what: r.mixture for r in self.comparison}
        mixture, single = rows.get("best mixture"), rows.get("best single source")
        if single is None:
            return None
        text = f"the best single source ({single.label}) {fixed(single.mean('total'))}"
        uniform = rows.get("uniform mix")
        extra = [f"the uniform mix {fixed(uniform.mean('total'))}"] if uniform is not None else []
        extra += [f"{what[len('default ('):-1]} alone {fixed(m.mean('total'))}" for what, m in rows.items()
                  if what.startswith("default") and m is not None]
        if mixture is None:
            return "Total retention: " + ", ".join([text, *extra]) + " (no mixture sweep recorded)."
        delta = mixture.mean("total") - single.mean("total")
        return (f"The best mixture found ({mixture.label}) retains {fixed(mixture.mean('total'))} in total vs " + text
                + (", " + ", ".join(extra) if extra else "") + f" ({delta:+.1f} points over the best single source).")

    # --- the write-up -----------------------------------------------------------------------------
    def markdown(self, *, command: str | None = None, figures: Mapping[str, str] | None = None) -> str:
        """The report as markdown; ``figures`` adds blocks (embedded figures) at the end of the
        sections named ``sources``, ``correlations``, ``mixtures`` and ``front``."""
        extra = {k: [v] for k, v in (figures or {}).items()}
        t = self.trials
        head = [
            f"# Calibration data and capability retention: {t.experiment}",
            "",
            f"- store: `{t.tracking_uri}`, experiment `{t.experiment}`",
            f"- scan: {_sweeps(self.scans)}; mixture sweeps: {_sweeps(self.sweeps) or 'none'}",
            f"- setting: {_setting(self.setting)}",
            (f"- trials analysed: {len(t.rows)} ({len(t.single_source())} single-source, {len(t.mixtures())} mixtures); "
             "retention = pruned / dense x 100, total = mean over dimensions"),
            *([f"- generated by: `{command}`"] if command else []),
            "", "## Findings", "", *(f"- {f}" for f in self.findings()),
        ]
        sources = _section(
            "1. Each source alone",
            ("Retention per dimension when pruning on one calibration source (mean ± std over seeds; bold: the best "
             "source of the column; tag: the dimension the source is meant to serve)."),
            markdown_table(*single_source_rows(self.single)),
            "Best single source per dimension, and whether it is one of that dimension's own sources:",
            markdown_table(*best_source_rows(self.single)),
            *extra.get("sources", []),
        )
        correlations = _section(
            "2. Information metrics of the calibration set vs retention",
            (f"Spearman rho (two-sided p, exact over all permutations up to {EXACT_MAX} points, else scipy's "
             f"approximation; * p < {ALPHA:g}) over the scan's sources, seeds averaged. Metrics are of the calibration "
             "set itself (perplexity under the dense model, repetition, n-gram statistics...)."),
            markdown_table(*spearman_rows(self.spearman)), *_notes(self.spearman),
            *([] if self.spearman_all is None else [
                "Over every analysed trial (single sources and mixtures, seeds averaged per mixture):",
                markdown_table(*spearman_rows(self.spearman_all)), *_notes(self.spearman_all)]),
            *extra.get("correlations", []),
        )
        default = f" vs the default source {self.default}" if self.default else ""
        search = markdown_table(*comparison_rows(self.comparison, self.dimensions))
        if self.confirmed is not None:
            blocks = [
                ("The headlines as confirmed in sequential mode (the paper's setting) on every item: retention, mean over "
                 "calibration seeds [95% paired bootstrap interval over items and seeds]."),
                markdown_table(*headline_rows(self.confirmed)), self.confirmed.sentence(),
                ("The search's own trials (as searched, not confirmed): best mixture vs uniform mix vs best single "
                 f"source{default}."),
                search,
            ]
        else:
            blocks = [f"Best mixture found (highest total) vs the uniform mix of the swept sources vs the best single source"
                      f"{default} (search trials; not confirmed).", search]
        mixtures = _section("3. Mixtures vs single sources", *blocks, *extra.get("mixtures", []))
        front = _section(
            "4. Pareto front over dimensions",
            "Mixtures (and single sources) that no other analysed mixture beats on every dimension.",
            markdown_table(*pareto_rows(self.front, self.dimensions)),
            *extra.get("front", []),
        )
        return "\n".join(head) + "\n" + sources + correlations + mixtures + front


def build_report(tracking_uri: str | None, experiment: str, *, scan: str | None = None, sweep: str | None = None,
                 default: str | None = None) -> Report:
    """The report of ``experiment``: ``scan`` and ``sweep`` select sweeps by name, id or ``all``
    (default: the newest scan, and the newest sweep that is not a scan, if any)."""
    tracker = open_experiment(tracking_uri, experiment)
    recorded = list_sweeps(tracker)
    where = f"experiment {experiment!r}"
    scans = [s for s in recorded if s.is_scan]
    if scan is None:
        if not scans:
            raise CalrayError(f"experiment {experiment!r} has no single-source scan (a sweep with search.algorithm=sources; "
                              f"it has {[f'{s.name} ({s.algorithm})' for s in recorded] or 'no sweeps'}); run "
                              "`calray sweep --single-source` or `calray demo` first, or name one with --scan")
        chosen_scans = [max(scans, key=lambda s: s.start_time)]
    else:
        chosen_scans = scans if scan == "all" else select_sweeps(recorded, scan, where=where)
        not_scans = [f"{s.name} ({s.algorithm})" for s in chosen_scans if not s.is_scan]
        if not_scans or not chosen_scans:
            raise CalrayError(f"--scan {scan!r} selects {not_scans or 'no sweeps'}, not single-source scans (search "
                              f"algorithm 'sources'); the experiment's scans: {[s.name for s in scans] or 'none'}")
    mixtures = [s for s in recorded if not s.is_scan]
    if sweep is None:
        chosen_sweeps = [max(mixtures, key=lambda s: s.start_time)] if mixtures else []
    else:
        chosen_sweeps = [s for s in select_sweeps(recorded, sweep, where=where) if s not in chosen_scans]
    all_rows = read_trials(tracker, [*chosen_scans, *chosen_sweeps])
    confirmed = next((h for s in sorted(chosen_sweeps, key=lambda s: -s.start_time)
                      if (h := read_headlines(tracker, s)) is not None), None)
    setting = all_rows.setting() if all_rows.rows else {}
    trials = all_rows.prefer_scans()
    scan_rows = trials.scan_rows()
    dims = trials.dimensions
    return Report(
        trials=trials, scans=chosen_scans, sweeps=chosen_sweeps, setting=setting, dimensions=dims,
        single=single_source_table(scan_rows, dimensions=dims, source_dimensions=trials.source_dimensions),
        spearman=spearman_table(scan_rows, dimensions=dims),
        spearman_all=spearman_table(trials.rows, dimensions=dims, scope="all trials") if trials.mixtures() else None,
        comparison=comparison_table(trials.rows, dimensions=dims, default=default),
        front=pareto_mixtures(trials.rows, dimensions=dims), default=default, confirmed=confirmed,
    )


def _bh_finding(table: SpearmanTable, found: Sequence[Correlation], *, alpha: float) -> str:
    """Which of the correlations at p < alpha survive the Benjamini-Hochberg correction, in words."""
    tests = sum(c.tested for c in table.correlations)
    kept = [c for c in found if c.survives(alpha)]
    lost = [c for c in found if not c.survives(alpha)]

    def names(cs: Sequence[Correlation]) -> str:
        return ", ".join(f"{c.metric} vs {c.dimension} (q = {fmt_p(c.q)})" for c in cs)

    head = f"After the Benjamini-Hochberg correction over the {tests} tests of table 2, "
    if not kept:
        return head + f"none of these survives at q < {alpha:g}: " + names(lost) + "; they may be chance findings."
    text = head + f"{len(kept)} survive{'s' if len(kept) == 1 else ''} at q < {alpha:g}: " + names(kept)
    return text + ("; " + names(lost) + " do" + ("es" if len(lost) == 1 else "") + " not." if lost else ".")


def _sentence(c: Correlation, unit: str, *, capital: bool = False) -> str:
    direction = "positively" if c.rho > 0 else "negatively"
    what = "calibration " + c.metric.replace("_", " ")
    interval = f" [{c.low:+.2f}, {c.high:+.2f}]" if math.isfinite(c.low) else ""
    text = (f"{what} correlates {direction} with {c.dimension} retention (Spearman rho = {c.rho:+.2f}{interval}, "
            f"p = {fmt_p(c.p)}, n = {c.n} {unit}" + (f", BH q = {fmt_p(c.q)}" if math.isfinite(c.q) else "") + ")")
    return text[0].upper() + text[1:] if capital else text


def _sweeps(sweeps: Sequence[SweepInfo]) -> str:
    return ", ".join(f"`{s.name}` ({s.sweep_id})" for s in sweeps)


def _notes(table: SpearmanTable) -> list[str]:
    notes = table.notes()
    return ["Not correlated or with points left out:\n\n" + "\n".join(f"- {n}" for n in notes)] if notes else []


def _section(title: str, *blocks: str) -> str:
    """A markdown section: its heading, then its blocks separated by blank lines."""
    return f"\n## {title}\n\n" + "\n\n".join(blocks) + "\n"


def _setting(s: dict[str, str]) -> str:
    def given(key: str) -> bool:
        return s.get(key) not in (None, "null", "None")

    target = s["n_m"] if given("n_m") else f"{s.get('sparsity', '?')} sparsity"
    return (f"model `{s.get('model', '?')}`, {s.get('method', '?')} at {target}, {s.get('mode', '?')} mode, "
            f"{s.get('nsamples', '?')} x {s.get('seqlen', '?')} calibration tokens, capability map "
            f"`{s.get('capability_map', '?')}`" + (f", items <= {s['limit']}" if given("limit") else ""))
