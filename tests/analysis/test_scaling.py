"""The scaling report: a scan and a uniform mix per model read back by model, the own-domain
verdict per size, and the retention-vs-size figure whose lines are the exported table."""

from __future__ import annotations

import math
import re

import pytest

from calray.analysis.export import read_csv, to_csv
from calray.analysis.figures import Lines, draw
from calray.analysis.scaling import UNIFORM, build_scaling, scaling_figure
from calray.cli import main
from calray.sweep.tracking import MODEL_PARAMETERS, Tracker

from .store import Trial, record_sweep

SOURCES = ["g1", "m1", "c1"]
TAGS = {"g1": "general", "m1": "math", "c1": "code"}
# model -> (parameters, {source: (general, math, code)}): own sources best except on "mid" for code
MODELS = {
    "small": (1_000, {"g1": (80, 40, 40), "m1": (50, 70, 30), "c1": (45, 35, 60)}),
    "mid": (10_000, {"g1": (85, 45, 70), "m1": (55, 75, 35), "c1": (50, 40, 65)}),
    "big": (100_000, {"g1": (90, 50, 50), "m1": (60, 80, 40), "c1": (55, 45, 75)}),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('scaling') / 'mlflow.db'}"
    tracker = Tracker(uri, "scaling")
    for i, (model, (parameters, table)) in enumerate(MODELS.items()):
        scan = [Trial({s: 1.0}, 0, dict(zip(("general", "math", "code"), map(float, r), strict=True)), {"perplexity": 1.0 + k})
                for k, (s, r) in enumerate(table.items())]
        parent = record_sweep(tracker, name=f"scan-{model}", sweep_id=f"s{i}", algorithm="sources", sources=SOURCES,
                              tags=TAGS, trials=scan, setting={"model": model})
        tracker.set_tags(parent, {MODEL_PARAMETERS: str(parameters)})
        uniform = {"general": 70.0 + i, "math": 65.0 + i, "code": 60.0 + i}
        record_sweep(tracker, name=f"mix-{model}", sweep_id=f"u{i}", algorithm="list", sources=SOURCES, tags=TAGS,
                     trials=[Trial({s: 1 / 3 for s in SOURCES}, 0, uniform, {})], setting={"model": model})
    other = Tracker(uri, "one-model")
    record_sweep(other, name="scan", sweep_id="o1", algorithm="sources", sources=SOURCES, tags=TAGS,
                 trials=[Trial({"g1": 1.0}, 0, {"general": 50.0}, {})])
    return uri


def test_each_model_gets_its_tables_and_the_own_domain_verdict(store):
    study = build_scaling(store, "scaling")
    assert [s.model for s in study.models] == ["small", "mid", "big"]  # by recorded size
    assert [s.parameters for s in study.models] == [1_000, 10_000, 100_000]
    mid = study.models[1]
    assert mid.single.best["code"].source == "g1" and mid.own_best() == (2, 3)
    findings = study.findings()
    assert findings[0] == "The own-domain pattern holds at 2 of 3 sizes (small (1.0k): yes, mid (10.0k): no, big (0.10M): yes)."
    # uniform total vs best single total per model: small 65 vs 53.3, mid 66 vs 66.7, big 67 vs 63.3
    assert findings[1].startswith("The uniform mix beats the best single source at some sizes only (total retention, small "
                                  "(1.0k) +11.7")
    assert findings[3].startswith("mid (10.0k): 2 of 3 dimensions best kept by one of their own sources (general -> g1, "
                                  "math -> m1, code -> g1 (tagged general)); the uniform mix retains 66.0 in total vs the "
                                  "best single source (g1) 66.7 (-0.7).")


def test_the_scaling_figure_draws_the_scaling_table(store):
    study = build_scaling(store, "scaling")
    figure = scaling_figure(study)
    lines = figure.data
    assert isinstance(lines, Lines) and lines.log_x and lines.sizes == [1_000.0, 10_000.0, 100_000.0]
    assert list(lines.lines) == ["g1", "m1", "c1", UNIFORM] and lines.tags[UNIFORM] is None and lines.tags["m1"] == "math"
    table = study.table()
    back = read_csv(to_csv(table), table.columns)
    names = [c.name for c in table.columns]
    for row in back:
        model, mixture = row[0], row[2]
        k = [s.model for s in study.models].index(model)
        for panel in lines.panels:
            assert lines.lines[mixture][panel][k] == row[names.index(panel)]
    assert lines.lines["g1"]["math"] == [40.0, 45.0, 50.0] and lines.lines[UNIFORM]["general"] == [70.0, 71.0, 72.0]
    drawn = draw(figure)
    math_panel = drawn.axes[lines.panels.index("math")]
    assert [list(line.get_ydata()) for line in math_panel.get_lines()] == [lines.lines[m]["math"] for m in lines.lines]
    assert not any(math.isnan(v) for m in lines.lines.values() for v in m["total"])


def test_calray_report_scaling_writes_the_report_figure_and_tables(store, tmp_path, capsys):
    out = tmp_path / "scaling.md"
    assert main(["report", "--scaling", "--tracking-uri", store, "--experiment", "scaling", "--out", str(out),
                 "--format", "md,csv"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (+ 2 figure files, 2 table files): 12 trials of 3 models")
    text = out.read_text()
    assert text.startswith("# Scaling study: scaling") and "](scaling_figures/scaling.png)" in text
    assert (tmp_path / "scaling_figures" / "scaling.svg").is_file()
    assert (tmp_path / "scaling_tables" / "scaling.csv").read_text().startswith("model,parameters,mixture,tag,general")
    assert "| g1 (85.0) | m1 (75.0) |" not in text and "| code | c1 (60.0) | g1 (70.0) * | c1 (75.0) |" in text


@pytest.mark.parametrize(("experiment", "options", "message"), [
    ("one-model", [], r"has trials of 1 model\(s\) \['toy'\]; a scaling study needs two or more"),
    ("scaling", ["--target", "0.7"], r"--target '0.7' is not among the experiment's pruning targets \['0.6'\]"),
    ("scaling", ["--scan", "s1"], r"--scaling reads every model's newest scan"),
])
def test_bad_scaling_selections_are_one_clear_error(store, capsys, experiment, options, message):
    assert main(["report", "--scaling", "--tracking-uri", store, "--experiment", experiment, *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("calray: error: ") and err.count("\n") == 1 and re.search(message, err), err
