"""A scaling study's report: the same scan (and mixtures) on several models of a family.

``build_scaling`` reads every sweep of an experiment that ``jobs/scaling.py`` filled (one
scan and, with ``mixtures``, one mixture sweep per model and pruning target), groups the
trials by model, and for each model computes the single-source table and the comparison of
the report (``calray.analysis.report``); ``ScalingStudy`` then says per model whether each
dimension is best kept by one of its own sources and how the uniform mix compares with the
best single source, and draws retention against model size (``scaling_figure``).

Model size is the ``calray.model_parameters`` tag the sweep recorded, else the parameter
count of the model's local checkpoint, else the models' order.

    study = build_scaling("sqlite:///mlflow.db", "toy-scaling")
    print(study.markdown())
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from calray.analysis.export import Column, ExportTable, Value
from calray.analysis.figures import FigureData, Lines
from calray.analysis.load import SETTING_PARAMS, SweepInfo, TrialRow, Trials, list_sweeps, open_experiment, read_trials
from calray.analysis.render import markdown_table
from calray.analysis.tables import ComparisonRow, SingleSourceTable, comparison_table, single_source_table
from calray.errors import CalrayError
from calray.format import fixed
from calray.sweep.tracking import MODEL_PARAMETERS, Tracker

UNIFORM = "uniform mix"


@dataclass
class ModelScan:
    """One model of the study: its trials, its tables."""

    model: str
    parameters: int | None
    rows: list[TrialRow]
    single: SingleSourceTable
    comparison: list[ComparisonRow]

    def row(self, what: str) -> ComparisonRow | None:
        return next((r for r in self.comparison if r.what == what and r.mixture is not None), None)

    def own_best(self) -> tuple[int, int]:
        """(dimensions best kept by one of their own sources, dimensions with a known tag)."""
        best = [b for d, b in self.single.best.items() if d != "total" and b.own is not None]
        return sum(bool(b.own) for b in best), len(best)


@dataclass
class ScalingStudy:
    trials: Trials
    setting: dict[str, str]  # what every model shares (the model left out)
    dimensions: list[str]
    models: list[ModelScan]  # smallest first
    default: str | None

    def mixtures(self) -> list[str]:
        """The lines of the scaling figure: every source alone (in the first model's table order),
        then the uniform mix when one was run."""
        out: list[str] = []
        for scan in self.models:
            out += [m.label for m in scan.single.sources if m.label not in out]
        if any(s.row(UNIFORM) for s in self.models):
            out.append(UNIFORM)
        return out

    def value(self, scan: ModelScan, mixture: str, dimension: str) -> float:
        """Mean retention of ``mixture`` (a source, or ``uniform mix``) on ``scan``'s model."""
        if mixture == UNIFORM:
            row = scan.row(UNIFORM)
            return row.mixture.mean(dimension) if row is not None and row.mixture is not None else math.nan
        found = next((m for m in scan.single.sources if m.label == mixture), None)
        return found.mean(dimension) if found is not None else math.nan

    # --- findings ---------------------------------------------------------------------------------
    def findings(self) -> list[str]:
        out = []
        holds = []
        for scan in self.models:
            own, known = scan.own_best()
            holds.append(known > 0 and own == known)
            best = ", ".join(f"{d} -> {b.source}" + ("" if b.own else f" (tagged {b.tag})")
                             for d, b in scan.single.best.items() if d != "total")
            text = f"{_name(scan)}: {own} of {known} dimensions best kept by one of their own sources ({best})"
            uniform, single = scan.row(UNIFORM), scan.row("best single source")
            if uniform is not None and single is not None and uniform.mixture and single.mixture:
                delta = uniform.mixture.mean("total") - single.mixture.mean("total")
                text += (f"; the uniform mix retains {fixed(uniform.mixture.mean('total'))} in total vs the best single "
                         f"source ({single.mixture.label}) {fixed(single.mixture.mean('total'))} ({delta:+.1f})")
            out.append(text + ".")
        sizes = len(self.models)
        if all(holds):
            out.insert(0, f"The own-domain pattern holds at every size: on each of the {sizes} models every dimension is "
                          "best kept by one of its own sources.")
        else:
            out.insert(0, f"The own-domain pattern holds at {sum(holds)} of {sizes} sizes (" + ", ".join(
                f"{_name(s)}: {'yes' if h else 'no'}" for s, h in zip(self.models, holds, strict=True)) + ").")
        deltas = [_delta(s) for s in self.models]
        if all(math.isfinite(d) for d in deltas):
            verdict = ("beats the best single source at every size" if all(d > 0 for d in deltas) else
                       "trails the best single source at every size" if all(d < 0 for d in deltas) else
                       "beats the best single source at some sizes only")
            out.insert(1, f"The uniform mix {verdict} (total retention, " + ", ".join(
                f"{_name(s)} {d:+.1f}" for s, d in zip(self.models, deltas, strict=True)) + " points).")
        return out

    # --- tables -----------------------------------------------------------------------------------
    def table(self) -> ExportTable:
        """Long form: a row per model and mixture, retention per dimension and total (what the
        scaling figure draws)."""
        groups = [*self.dimensions, "total"]
        columns = [Column("model", "text"), Column("parameters", "integer"), Column("mixture", "text"), Column("tag", "text"),
                   *(Column(g) for g in groups)]
        tags = self.trials.source_dimensions
        rows: list[list[Value]] = [[s.model, s.parameters, m, tags.get(m), *(self.value(s, m, g) for g in groups)]
                                   for s in self.models for m in self.mixtures()]
        header = ["model", "mixture", *groups]
        display = [[_name(s), m, *(fixed(self.value(s, m, g)) for g in groups)] for s in self.models for m in self.mixtures()]
        return ExportTable("scaling", "Retention per dimension of each calibration source alone and of the uniform mix, "
                           "per model of the family.", columns, rows, (header, display))

    def best_table(self) -> ExportTable:
        columns = [Column("dimension", "text"), *(c for s in self.models for c in (
            Column(f"{s.model}/best_source", "text"), Column(f"{s.model}/retention"), Column(f"{s.model}/own", "boolean")))]
        rows: list[list[Value]] = []
        display = []
        for d in [*self.dimensions, "total"]:
            row: list[Value] = [d]
            cells = [d]
            for s in self.models:
                b = s.single.best.get(d)
                row += [None, None, None] if b is None else [b.source, b.retention, b.own if d != "total" else None]
                cells.append("-" if b is None else f"{b.source} ({fixed(b.retention)})" + (
                    "" if d == "total" or b.own else " *"))
            rows.append(row)
            display.append(cells)
        return ExportTable("scaling_best_source", "Best single source per dimension and model (* not one of the dimension's "
                           "own sources).", columns, rows, (["dimension", *(_name(s) for s in self.models)], display))

    def tables(self) -> list[ExportTable]:
        return [self.table(), self.best_table()]

    def markdown(self, *, command: str | None = None, figures: Mapping[str, str] | None = None) -> str:
        t = self.trials
        models = ", ".join(f"`{s.model}` ({_size(s.parameters)})" for s in self.models)
        head = [
            f"# Scaling study: {t.experiment}",
            "",
            f"- store: `{t.tracking_uri}`, experiment `{t.experiment}`",
            f"- models: {models}",
            f"- sweeps: {', '.join(f'`{s.name}` ({s.sweep_id})' for s in t.sweeps)}",
            f"- shared setting: {', '.join(f'{k} {v}' for k, v in self.setting.items() if v not in ('None', 'null'))}",
            f"- trials analysed: {len(t.rows)}; retention = pruned / dense x 100, total = mean over dimensions",
            *([f"- generated by: `{command}`"] if command else []),
            "", "## Findings", "", *(f"- {f}" for f in self.findings()),
        ]
        best = self.best_table()
        per_dimension = []
        for g in [*self.dimensions, "total"]:
            header = ["mixture", *(_name(s) for s in self.models)]
            rows = [[m, *(fixed(self.value(s, m, g)) for s in self.models)] for m in self.mixtures()]
            per_dimension.append(f"**{g}**\n\n" + markdown_table(header, rows))
        sections = [
            _section("1. Retention vs model size", "Retention of each source alone (seeds averaged) and of the uniform mix, per "
                     "model; one table per dimension.", *per_dimension, *([figures["scaling"]] if figures and
                                                                         "scaling" in figures else [])),
            _section("2. Best single source per dimension and model", markdown_table(*best.display)),
        ]
        return "\n".join(head) + "\n" + "".join(sections)


def scaling_figure(study: ScalingStudy) -> FigureData:
    """Retention against model size, a panel per dimension (and total), a line per source
    (coloured by its tag) and one for the uniform mix."""
    panels = [*study.dimensions, "total"]
    known = all(s.parameters for s in study.models)
    sizes = [float(s.parameters) if known and s.parameters else float(i + 1) for i, s in enumerate(study.models)]
    lines = {m: {g: [study.value(s, m, g) for s in study.models] for g in panels} for m in study.mixtures()}
    tags = {m: (None if m == UNIFORM else study.trials.source_dimensions.get(m, "?")) for m in lines}
    x = "parameters (log scale)" if known else "model (sizes unknown: in the study's order)"
    caption = (f"Retention vs model size ({x}; " + ", ".join(f"{s.model} {_size(s.parameters)}" for s in study.models)
               + "), per dimension: a line per calibration source alone (coloured by its tag) and the uniform mix (black).")
    return FigureData("scaling", "Retention vs model size", caption,
                      Lines(panels, sizes, [f"{s.model}\n{_size(s.parameters)}" for s in study.models], lines, tags, known))


def build_scaling(tracking_uri: str | None, experiment: str, *, target: str | None = None,
                  default: str | None = None) -> ScalingStudy:
    """The scaling study recorded in ``experiment``: for each model the newest scan and newest
    mixture sweep of the pruning ``target`` (a sparsity or n:m; needed when there are several)."""
    tracker = open_experiment(tracking_uri, experiment)
    recorded = list_sweeps(tracker)
    if not recorded:
        raise CalrayError(f"experiment {experiment!r} has no sweeps; run `python jobs/scaling.py --config ...` first")
    all_rows = read_trials(tracker, recorded)
    targets = sorted({_target(r) for r in all_rows.rows})
    if target is None and len(targets) > 1:
        raise CalrayError(f"experiment {experiment!r} holds several pruning targets {targets}; pick one with --target")
    chosen_target = target if target is not None else (targets[0] if targets else None)
    if chosen_target not in targets:
        raise CalrayError(f"--target {target!r} is not among the experiment's pruning targets {targets}")
    by_model: dict[str, list[SweepInfo]] = {}
    rows_of = {s.sweep_id: [r for r in all_rows.rows if r.sweep_id == s.sweep_id and _target(r) == chosen_target]
               for s in recorded}
    for s in recorded:
        if rows_of[s.sweep_id]:
            by_model.setdefault(rows_of[s.sweep_id][0].setting.get("model", "?"), []).append(s)
    chosen: list[SweepInfo] = []
    for sweeps in by_model.values():
        scan_sweeps = [s for s in sweeps if s.is_scan]
        mixture_sweeps = [s for s in sweeps if not s.is_scan]
        chosen += [max(group, key=lambda s: s.start_time) for group in (scan_sweeps, mixture_sweeps) if group]
    trials = read_trials(tracker, chosen).prefer_scans()
    others = {p: sorted({r.setting.get(p, "?") for r in trials.rows}) for p in SETTING_PARAMS if p != "model"}
    differ = {p: v for p, v in others.items() if len(v) > 1}
    if differ:
        raise CalrayError(f"the study's trials differ in {differ} besides the model; a scaling figure compares models at one "
                          "setting: select an experiment (or --target) of one setting")
    if len(by_model) < 2:
        raise CalrayError(f"experiment {experiment!r} has trials of {len(by_model)} model(s) {sorted(by_model)}; a scaling "
                          "study needs two or more (jobs/scaling.py with several `models`)")
    dims = trials.dimensions
    models = []
    for model, sweeps in by_model.items():
        ids = {s.sweep_id for s in chosen if s in sweeps}
        rows = [r for r in trials.rows if r.sweep_id in ids]
        scan_rows = [r for r in rows if any(s.sweep_id == r.sweep_id and s.is_scan for s in sweeps)]
        if not scan_rows:
            raise CalrayError(f"model {model!r} has no single-source scan in experiment {experiment!r}")
        models.append(ModelScan(model, _parameters(tracker, model, sweeps), rows,
                                single_source_table(scan_rows, dimensions=dims, source_dimensions=trials.source_dimensions),
                                comparison_table(rows, dimensions=dims, default=default)))
    models.sort(key=lambda s: (s.parameters is None, s.parameters or 0))
    setting = {p: v[0] for p, v in others.items() if v}
    return ScalingStudy(trials, setting, dims, models, default)


def _target(row: TrialRow) -> str:
    n_m = row.setting.get("n_m")
    return n_m if n_m is not None and n_m not in ("None", "null") else str(row.setting.get("sparsity", "?"))


def _parameters(tracker: Tracker, model: str, sweeps: Sequence[SweepInfo]) -> int | None:
    for s in sweeps:
        tag = tracker.client.get_run(s.run_id).data.tags.get(MODEL_PARAMETERS)
        if tag:
            return int(tag)
    from calray.models import parameter_count

    return parameter_count(model)


def _delta(scan: ModelScan) -> float:
    uniform, single = scan.row(UNIFORM), scan.row("best single source")
    if uniform is None or single is None or uniform.mixture is None or single.mixture is None:
        return math.nan
    return uniform.mixture.mean("total") - single.mixture.mean("total")


def _size(parameters: int | None) -> str:
    if not parameters:
        return "size unknown"
    if parameters >= 1e9:
        return f"{parameters / 1e9:.1f}B"
    return f"{parameters / 1e6:.2f}M" if parameters >= 1e5 else f"{parameters / 1e3:.1f}k"


def _name(scan: ModelScan) -> str:
    return f"{scan.model} ({_size(scan.parameters)})"


def _section(title: str, *blocks: str) -> str:
    return f"\n## {title}\n\n" + "\n\n".join(blocks) + "\n"
