"""`calray demo` end to end, on the tiny world instead of the toy (same code path, seconds):
dense run, single-source scan, a sweep told the scan's results, the comparison, MLflow records,
the scan's Spearman table, the report with its figures it writes, and `calray report` on its store."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from calray.cli import main
from calray.format import ordered_dimensions
from calray.sweep.tracking import DEFAULT_EXPERIMENT, KIND, SOURCE_DIMENSIONS

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_the_demo_prints_the_tables_and_records_everything(ray_session, model_dir, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = {"model": str(model_dir), "setup_modules": "[tests.sweep.world]", "sources": "['tiny:*']",
                "default_source": "tiny:words", "capability_map": "tiny", "limit": "null", "nsamples": "8", "seqlen": "32",
                "sweep_trials": "3", "eval_batch_size": "4", "confirm_top_k": "1", "confirm_seeds": "2"}
    written = tmp_path / "demo" / "report.md"
    argv = ["demo", "--tracking-uri", uri, "--report", str(written),
            *(x for k, v in settings.items() for x in ("--set", f"{k}={v}"))]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Dense model, per task:" in out and "tiny_mc" in out
    table = out.split("each source alone")[1]
    assert all(source in table for source in ("tiny:words", "tiny:numbers", "tiny:letters"))
    closing = out.split("The headlines confirmed in sequential mode (retention, mean over calibration seeds [95% interval]):")[1]
    for row in ("best mixture", "uniform mix", "best single source", "default (tiny:words)"):
        line = next(x for x in closing.splitlines() if x.startswith(row))
        assert line.count("[") == line.count("]") >= 2 and line.split()[-1] == "2", line  # intervals, 2 seeds
    verdict = closing.split("The best mixture ")[1].split("\n")[0]
    assert "the uniform mix" in verdict and "the best single source" in verdict
    assert "confirmed in sequential mode on 2 calibration seeds" in verdict
    assert f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1" in out
    assert f"  calray runs --tracking-uri {uri}  " in out  # the default experiment: no --experiment needed
    spearman = out.split("Information metrics of each calibration set vs retention over the scan")[1].split("Best mixture")[0]
    assert "metric (n=3 sources)" in spearman and "perplexity" in spearman and "seq_rep_4" in spearman

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(DEFAULT_EXPERIMENT).experiment_id  # what `runs` and `report` read
    runs = client.search_runs([experiment])
    kinds = [r.data.tags[KIND] for r in runs]
    assert kinds.count("dense") == 1 and kinds.count("sweep") == 2 and kinds.count("trial") == 3 + 3
    confirmations = [r for r in runs if r.data.tags[KIND] == "confirmation"]
    roles = {role for r in confirmations for role in r.data.tags["calray.headline"].split("; ")}
    assert roles == {"best mixture", "uniform mix", "best single source", "default (tiny:words)"}
    assert len(confirmations) == 2 * len({r.data.tags["calray.mixture"] for r in confirmations})
    assert {r.data.params["mode"] for r in confirmations} == {"sequential"}
    assert {r.info.status for r in runs} == {"FINISHED"}
    sweep = next(r for r in runs if r.data.tags[KIND] == "sweep" and r.data.tags["mlflow.runName"].startswith("demo-sweep"))
    scan = next(r for r in runs if r.data.tags[KIND] == "sweep" and r.data.tags["mlflow.runName"].startswith("demo-scan"))
    assert json.loads(scan.data.tags[SOURCE_DIMENSIONS]) == {"tiny:words": "general", "tiny:numbers": "math",
                                                             "tiny:letters": "general"}
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep.info.run_id and r.data.tags[KIND] == "trial"]
    # the scan's single sources were told to Optuna, not run again: the sweep's trials are mixtures
    assert all(sum(float(v) > 0 for k, v in r.data.params.items() if k.startswith("weight/")) > 1 for r in trials)

    # `calray runs` right after the demo, with no --experiment, lists the demo's sweep
    capsys.readouterr()
    assert main(["runs", "--tracking-uri", uri]) == 0
    listed = capsys.readouterr().out
    assert sum(r.info.run_id in listed for r in trials) == len(trials) == 3
    header = listed.splitlines()[0].split()
    assert header[3:header.index("total")] == ordered_dimensions(header[3:header.index("total")])  # the tables' order

    # the demo ends by writing the report, its figures embedded
    from calray.analysis import build_report

    # a Pareto figure needs two dimensions with retention; the tiny map may define fewer
    figures = ["retention", "spearman", "comparison"] + (["pareto"] if len(build_report(uri, DEFAULT_EXPERIMENT).dimensions) > 1
                                                          else [])
    line = next((x for x in out.splitlines() if x.startswith("The report, with")), out[-500:])
    assert line.startswith(f"The report, with {len(figures)} figures: {written} (again"), line
    demo_text = written.read_text()
    assert "error bars: the analysis' 95% intervals" in demo_text  # the comparison figure draws the confirmed rows
    assert demo_text.count("](report_figures/") == 2 * len(figures)  # the PNG embedded, the SVG linked
    for figure in figures:
        assert f"](report_figures/{figure}.png)" in demo_text, figure
        assert (written.parent / "report_figures" / f"{figure}.svg").is_file()

    # the analysis layer reads the demo's store back: the same runs, the paper's tables
    report = tmp_path / "report.md"
    assert main(["report", "--tracking-uri", uri, "--default", "tiny:words", "--out", str(report),
                 "--no-figures"]) == 0
    text = report.read_text()
    findings = text.split("## Findings")[1].split("## 1.")[0]
    assert findings == demo_text.split("## Findings")[1].split("## 1.")[0]
    assert "Confirmed total retention: best mixture (" in findings and "paired bootstrap intervals" in findings
    assert "trials analysed: 6 (3 single-source, 3 mixtures)" in text
    assert "| tiny:numbers | math |" in text  # the source's dimension tag, recorded by the sweep
    assert "| default (tiny:words) | tiny:words |" in text and "## 4. Pareto front" in text
