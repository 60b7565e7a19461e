"""Figures and table exports of the report: every file written and embedded, figure data equal
to the tables' (and to what the exported CSV holds), deterministic bytes, exports that parse."""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from calray.analysis import build_report
from calray.analysis.export import ExportTable, read_csv, report_tables, to_csv, to_latex
from calray.analysis.figures import (
    Bars,
    Heatmap,
    Scatter,
    draw,
    is_self_calibration,
    render,
    retention_interval,
    significant,
)
from calray.analysis.publish import Published, report_figures, scan_dense_scores
from calray.analysis.tables import Stat
from calray.cli import main
from calray.sweep.tracking import Tracker

from .conftest import MIXED, SOURCES, TAGS, scan_trials, sweep_trials
from .store import record_sweep

ROOT = Path(__file__).resolve().parents[2]
DENSE = {"toy:wiki": {"word_perplexity": 12.3456}, "toy:gsm": {"exact_match": 0.41}}
FIGURES = ["retention", "spearman", "comparison", "pareto"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The analysis study (8 sources x 2 seeds, a mixture sweep), its scan with dense scores."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('figures') / 'mlflow.db'}"
    tracker = Tracker(uri, "study")
    parent = record_sweep(tracker, name="scan", sweep_id="s1", algorithm="sources", sources=SOURCES, tags=TAGS,
                          trials=scan_trials())
    tracker.log_metrics(parent, {f"dense/{t}/{m}": v for t, ms in DENSE.items() for m, v in ms.items()})
    record_sweep(tracker, name="mix", sweep_id="m1", algorithm="optuna", sources=MIXED, tags=TAGS, trials=sweep_trials())
    return uri


@pytest.fixture(scope="module")
def report(store):
    return build_report(store, "study", default="src2")


@pytest.fixture(scope="module")
def published(store, tmp_path_factory):
    """``calray report --format md,csv,tex`` into a fresh folder (the figures drawn once, here)."""
    out = tmp_path_factory.mktemp("published") / "report.md"
    assert main(["report", "--tracking-uri", store, "--experiment", "study", "--default", "src2", "--out", str(out),
                 "--format", "md,csv,tex"]) == 0
    folder = out.parent
    return Published(out, sorted((folder / "report_figures").iterdir()), sorted((folder / "report_tables").iterdir()))


def tables_by_name(report) -> dict[str, ExportTable]:
    return {t.name: t for t in report_tables(report)}


def csv_column(table: ExportTable, name: str) -> list:
    return [row[[c.name for c in table.columns].index(name)] for row in read_csv(to_csv(table), table.columns)]


def same(a, b) -> bool:
    """Equal numbers, None and NaN counting as the same missing value."""
    a = [math.nan if v is None else float(v) for v in a]
    b = [math.nan if v is None else float(v) for v in b]
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True))


# --- files ----------------------------------------------------------------------------------------
def test_every_figure_is_written_as_png_and_svg_and_embedded_with_a_caption(published):
    folder = published.markdown.parent / "report_figures"
    assert sorted(p.name for p in published.figures) == sorted(f"{n}.{x}" for n in FIGURES for x in ("png", "svg"))
    text = published.markdown.read_text()
    for number, name in enumerate(FIGURES, 1):
        png, svg = folder / f"{name}.png", folder / f"{name}.svg"
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 5000
        assert ET.parse(svg).getroot().tag.endswith("svg")
        block = re.search(rf"!\[[^\]]+\]\(report_figures/{name}\.png\)\n\n\*\*Figure {number}\.\*\* (.+)\n", text)
        assert block is not None, name
        assert f"([SVG](report_figures/{name}.svg))" in block.group(1)
    # each figure sits in the section it illustrates
    sections = text.split("\n## ")
    for title, name in [("1. Each source alone", "retention"), ("2. Information metrics", "spearman"),
                        ("3. Mixtures vs single sources", "comparison"), ("4. Pareto front", "pareto")]:
        assert f"report_figures/{name}.png" in next(s for s in sections if s.startswith(title))
    assert "Dense model: toy:gsm exact_match 0.41, toy:wiki word_perplexity 12.35." in text
    assert not [p for p in folder.parent.rglob(".*.tmp")]  # no temporary file left behind


def test_figures_are_deterministic(report, published):
    """Drawn again from the same runs, every figure file has the same bytes (no dates, fixed SVG ids)."""
    folder = published.markdown.parent / "report_figures"
    for figure in report_figures(report, dense=scan_dense_scores(report)):
        for fmt, data in render(figure).items():
            assert data == (folder / f"{figure.name}.{fmt}").read_bytes(), (figure.name, fmt)
    svg = (folder / "retention.svg").read_text()
    assert "<dc:date>" not in svg and "<dc:creator>" not in svg


def test_import_calray_analysis_imports_no_matplotlib():
    code = "import sys, calray.analysis; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# --- figure data == table data == CSV -------------------------------------------------------------
def test_the_retention_heatmap_draws_the_single_source_table(report):
    figure = report_figures(report, dense=DENSE)[0]
    h = figure.data
    assert isinstance(h, Heatmap)
    table = tables_by_name(report)["single_source"]
    assert h.rows == [m.label for m in report.single.sources] == table.column("source")
    assert h.columns == [*report.dimensions, "total"]
    drawn = draw(figure).axes[0].images[0].get_array()
    for j, d in enumerate(h.columns):
        assert same(h.values[:, j], [m.mean(d) for m in report.single.sources])
        assert same(h.values[:, j], csv_column(table, d))
        assert same(np.ma.filled(drawn[:, j].astype(float), np.nan), h.values[:, j])
        best = report.single.best[d].source
        assert [h.rows[i] for i in np.flatnonzero(h.marked[:, j])] == [best]
    # the printed cells are the markdown's means
    header, rows = tables_by_name(report)["single_source"].display
    for i, row in enumerate(rows):
        for j, d in enumerate(h.columns):
            cell = row[header.index(d)].strip("*")
            assert cell == "n/a" if not h.text[i][j] else cell.split(" ± ")[0] == h.text[i][j]
    assert figure.caption.endswith("Dense model: toy:wiki word_perplexity 12.35, toy:gsm exact_match 0.41.")


def test_the_spearman_heatmap_draws_the_spearman_table_and_marks_bh_significance(report):
    figure = report_figures(report)[1]
    h = figure.data
    assert isinstance(h, Heatmap) and h.diverging and h.limits == (-1.0, 1.0)
    table = tables_by_name(report)["spearman"]
    rho = {(m, d): v for m, d, v in zip(table.column("metric"), table.column("dimension"),
                                        csv_column(table, "rho"), strict=True)}
    drawn = draw(figure).axes[0].images[0].get_array()
    for i, m in enumerate(h.rows):
        for j, d in enumerate(h.columns):
            c = report.spearman.get(m, d)
            assert same([h.values[i, j]], [c.rho if c.tested else math.nan]) and same([h.values[i, j]], [rho[(m, d)]])
            assert same([float(np.ma.filled(drawn[i, j], np.nan))], [h.values[i, j]])
            assert h.marked[i, j] == (c.tested and c.q < 0.05) == significant(c) and h.text[i][j].endswith("*") == h.marked[i, j]
    assert h.marked.any() and not h.marked.all()  # perplexity vs general and math survive BH; others do not


def test_the_comparison_bars_draw_the_comparison_table_with_seed_intervals(report):
    figure = report_figures(report)[2]
    b = figure.data
    assert isinstance(b, Bars)
    table = tables_by_name(report)["comparison"]
    assert [s.what for s in b.series] == table.column("row")
    containers = draw(figure).axes[0].containers
    bars = [c for c in containers if hasattr(c, "patches")]
    for k, s in enumerate(b.series):
        assert same(s.values, [csv_column(table, g)[k] for g in b.groups])
        assert same([p.get_height() for p in bars[k].patches], s.values)
    single = next(s for s in b.series if s.what == "best single source")
    stat = next(m for m in report.single.sources if m.label == single.label).retention["total"]
    assert (single.low[-1], single.high[-1]) == retention_interval(stat)
    mixture = next(s for s in b.series if s.what == "best mixture")
    assert math.isnan(mixture.low[-1])  # one seed: no interval
    assert "95% t-intervals over calibration seeds" in figure.caption


def test_the_pareto_figure_draws_every_mixture_and_the_front_over_two_dimensions(report, published):
    figure = report_figures(report)[3]
    s = figure.data
    assert isinstance(s, Scatter) and (s.x, s.y) == ("general", "math")
    by_label = {p.label: p for p in s.points}
    assert len(by_label) == len(report.single.sources) + len(report.trials.mixtures())
    assert by_label["src0"].y == next(m for m in report.single.sources if m.label == "src0").mean("math")
    front = {p.label for p in s.points if p.front}
    for p in s.points:  # on the front exactly when nothing beats it on both axes
        beaten = any(q.x >= p.x and q.y >= p.y and (q.x, q.y) != (p.x, p.y) for q in s.points)
        assert (p.label in front) == (not beaten)
    drawn = np.vstack([c.get_offsets() for c in draw(figure).axes[0].collections])
    assert sorted(map(tuple, drawn.tolist())) == sorted((p.x, p.y) for p in s.points)
    exported = published.markdown.parent / "report_tables" / "pareto_general_math.csv"
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert {(r["mixture"], float(r["general"]), float(r["math"]), r["on_front"] == "true") for r in rows} == {
        (p.label, p.x, p.y, p.front) for p in s.points}


def test_intervals_come_from_the_analysis_when_it_has_them():
    assert retention_interval(Stat(50.0, math.nan, 1)) is None
    low, high = retention_interval(Stat(50.0, 2.0, 3))
    assert high - 50.0 == pytest.approx(4.303 * 2.0 / math.sqrt(3), rel=1e-3) and 50.0 - low == pytest.approx(high - 50.0)

    @dataclass(frozen=True)
    class WithInterval(Stat):
        interval: tuple[float, float] | None = None

    assert retention_interval(WithInterval(50.0, 2.0, 3, interval=(48.0, 51.0))) == (48.0, 51.0)
    assert is_self_calibration("selfcal") and is_self_calibration("toy:sgs") and is_self_calibration("igsp-0")
    assert not is_self_calibration("toy:gsm") and is_self_calibration("mine", "self")


# --- exports --------------------------------------------------------------------------------------
def test_csv_exports_round_trip(report, published):
    folder = published.markdown.parent / "report_tables"
    for table in report_tables(report):
        text = (folder / f"{table.name}.csv").read_text()
        back = read_csv(text, table.columns)
        assert len(back) == len(table.rows)
        for row, original in zip(back, table.rows, strict=True):
            for value, expected in zip(row, original, strict=True):
                if isinstance(expected, float) and math.isnan(expected):
                    assert value is None
                else:
                    assert value == expected and type(value) is type(expected) or (value is None and expected is None)
        import pyarrow.csv as pacsv

        parsed = pacsv.read_csv(io.BytesIO(text.encode()))
        assert parsed.column_names == [c.name for c in table.columns] and parsed.num_rows == len(table.rows)


def _latex_structure_ok(tex: str, table: ExportTable) -> None:
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    header, rows = table.display
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex)
    assert spec is not None and len(spec.group(1)) == len(header)
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    assert len(body) == len(rows)
    for line in body:
        assert line.endswith(r"\\") and len(re.findall(r"(?<!\\)&", line)) == len(header) - 1
    unescaped = re.findall(r"(?<!\\)[_%#]", tex.replace(r"\label{", "").split(r"\end{table}")[0].split("\n", 3)[-1])
    assert not unescaped, unescaped
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")


def test_latex_exports_are_booktabs_tables_that_compile_where_tex_is_present(report, published, tmp_path):
    folder = published.markdown.parent / "report_tables"
    tables = report_tables(report)
    for table in tables:
        tex = (folder / f"{table.name}.tex").read_text()
        assert tex == to_latex(table)
        _latex_structure_ok(tex, table)
    single = (folder / "single_source.tex").read_text()
    assert r"\textbf{59.2 $\pm$ 2.0}" in single and r"src2 & general" in single
    assert r"perplexity & +1.00 (p=0.0e+00)$^{*}$ n=8" in (folder / "spearman.tex").read_text()
    latex = shutil.which("pdflatex") or shutil.which("lualatex") or shutil.which("xelatex")
    if latex is None:
        return  # no TeX here: the structure was checked above
    doc = tmp_path / "tables.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[utf8]{inputenc}\n\\begin{document}\n"
                   + "\n".join((folder / f"{t.name}.tex").read_text() for t in tables) + "\\end{document}\n")
    done = subprocess.run([latex, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:]


# --- the command ----------------------------------------------------------------------------------
def test_calray_report_writes_figures_and_exports_beside_its_markdown(store, published, tmp_path, capsys):
    assert published.markdown.read_text().startswith("# Calibration data and capability retention: study")
    assert len(published.figures) == 8 and len(published.tables) == 14
    assert main(["report", "--tracking-uri", store, "--experiment", "study", "--out", str(tmp_path / "paper" / "n.md"),
                 "--no-figures", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'paper' / 'n.md'} (+ 6 table files): 20 trials of 2 sweeps")
    assert "![" not in (tmp_path / "paper" / "n.md").read_text() and not (tmp_path / "paper" / "n_figures").exists()
    assert sorted(p.suffix for p in (tmp_path / "paper" / "n_tables").iterdir()) == [".csv"] * 6
    assert scan_dense_scores(build_report(store, "study")) == DENSE


def test_the_pareto_dimensions_can_be_chosen(report):
    figure = report_figures(report, pareto=["code", "general"])[3]
    assert (figure.data.x, figure.data.y) == ("code", "general") and figure.title == "Pareto front: code vs general"


@pytest.mark.parametrize(("options", "message"), [
    (["--format", "md,xls"], "--format 'md,xls': xls is not an output format"),
    (["--format", "csv"], "--format csv writes files: give --out"),
    (["--pareto", "general", "--out", "{out}"], "--pareto 'general': give two dimensions"),
    (["--pareto", "general,commonsense", "--out", "{out}"], "the Pareto figure needs two different dimensions of"),
])
def test_bad_report_options_are_one_line_errors(store, tmp_path, capsys, options, message):
    options = [o.replace("{out}", str(tmp_path / "r.md")) for o in options]
    assert main(["report", "--tracking-uri", store, "--experiment", "study", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("calray: error: ") and message in err and err.count("\n") == 1
