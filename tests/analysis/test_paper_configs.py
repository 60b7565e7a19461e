"""The paper's scan and sweep configs report together: a scan and a mixture sweep recorded with
the very params those two configs give their trials (on the toy model) make one report."""

from __future__ import annotations

from pathlib import Path

from calray.analysis import build_report
from calray.sweep.config import load_sweep_config
from calray.sweep.plan import plan_sweep
from calray.sweep.tracking import Tracker

from .conftest import MIXED, SOURCES, TAGS, scan_trials, sweep_trials
from .store import record_sweep

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "configs"


def trial_params(name: str) -> dict[str, object]:
    """The params every trial of ``jobs/configs/<name>.yaml`` records, with the toy model standing in."""
    config = load_sweep_config(CONFIGS / f"{name}.yaml").model_copy(update={"model": "toy", "cluster_yaml": None})
    return plan_sweep(config, check_cluster=False).common_params()


def test_the_paper_scan_and_sweep_configs_make_one_report(tmp_path: Path) -> None:
    scan, sweep = trial_params("paper_scan"), trial_params("paper_sweep")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "paper")
    record_sweep(tracker, name="paper-scan", sweep_id="s1", algorithm="sources", sources=SOURCES, tags=TAGS,
                 trials=scan_trials(), setting=scan)
    record_sweep(tracker, name="paper-sweep", sweep_id="m1", algorithm="optuna", sources=MIXED, tags=TAGS,
                 trials=sweep_trials(), setting=sweep)
    report = build_report(uri, "paper", default="src2")
    assert [s.name for s in report.scans] == ["paper-scan"] and [s.name for s in report.sweeps] == ["paper-sweep"]
    assert report.setting["mode"] == scan["mode"] == sweep["mode"]
    assert f"{scan['mode']} mode" in report.markdown()
