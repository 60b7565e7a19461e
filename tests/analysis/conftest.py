"""One study recorded in a sqlite MLflow store with known numbers, shared by the analysis tests.

Experiment ``study``: a scan of 8 sources (3 general, 3 math, 2 code) x 2 seeds, then a mixture
sweep over one source of each dimension (the uniform mix among its trials, one trial FAILED, one
a source alone again, as a sweep's seed points are).
Experiment ``two-models``: a scan of the same sources on another model as well.
Experiment ``no-scan``: only a mixture sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from calray.sweep.tracking import Tracker

from .store import Trial, record_sweep

SOURCES = [f"src{i}" for i in range(8)]
TAGS = {"src0": "general", "src1": "general", "src2": "general", "src3": "math", "src4": "math", "src5": "math",
        "src6": "code", "src7": "code"}
MIXED = ["src0", "src3", "src6"]


@dataclass
class Study:
    uri: str
    scan: list[Trial]
    sweep: list[Trial]


def scan_trials(seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    out = []
    for i, source in enumerate(SOURCES):
        ppl = 5.0 + 2.0 * i  # general rises with perplexity, math falls: a known monotone relation plus noise
        for s in (0, 1):
            retention = {"general": 40.0 + 3.0 * i + rng.normal(0, 1.0), "math": 90.0 - 6.0 * i + rng.normal(0, 2.0),
                         "code": float(rng.uniform(20, 60))}
            if source == "src7":
                retention["code"] = math.nan  # undefined for this source: not logged
            info = {"perplexity": ppl + rng.normal(0, 0.1), "seq_rep_4": float(rng.uniform(0, 1)), "constant": 1.0}
            if source == "src2" and s == 1:
                info["seq_rep_4"] = math.nan  # one seed lacks it: the source's mean is NaN
            out.append(Trial({source: 1.0}, s, retention, info))
    return out


def sweep_trials() -> list[Trial]:
    third = 1 / 3
    mixtures = [
        ({"src0": third, "src3": third, "src6": third}, {"general": 60.0, "math": 70.0, "code": 50.0}),
        ({"src0": 0.6, "src3": 0.3, "src6": 0.1}, {"general": 70.0, "math": 80.0, "code": 55.0}),
        ({"src0": 0.1, "src3": 0.8, "src6": 0.1}, {"general": 30.0, "math": 95.0, "code": 40.0}),
        ({"src0": 0.5, "src3": 0.5, "src6": 0.0}, {"general": 50.0, "math": 50.0, "code": 10.0}),
    ]
    out = [Trial(w, 0, r, {"perplexity": 8.0 + i, "seq_rep_4": 0.1 * i, "constant": 1.0}) for i, (w, r) in enumerate(mixtures)]
    out.append(
        Trial({"src0": 0.2, "src3": 0.2, "src6": 0.6}, 0, {"general": 99.0, "math": 99.0, "code": 99.0}, {}, status="FAILED")
    )
    # a seed point of the sweep: src0 alone again (the scan has it; the report leaves this one out)
    out.append(Trial({"src0": 1.0}, 0, {"general": 99.0, "math": 99.0, "code": 99.0}, {"perplexity": 1.0}))
    return out


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    path: Path = tmp_path_factory.mktemp("analysis") / "mlflow.db"
    uri = f"sqlite:///{path}"
    scan, sweep = scan_trials(), sweep_trials()
    tracker = Tracker(uri, "study")
    record_sweep(tracker, name="scan", sweep_id="s1", algorithm="sources", sources=SOURCES, tags=TAGS, trials=scan)
    record_sweep(tracker, name="mix", sweep_id="m1", algorithm="optuna", sources=MIXED, tags=TAGS, trials=sweep)
    other = Tracker(uri, "two-models")
    record_sweep(other, name="scan", sweep_id="a1", algorithm="sources", sources=SOURCES, tags=TAGS, trials=scan)
    record_sweep(other, name="scan-other", sweep_id="b1", algorithm="sources", sources=SOURCES, tags=TAGS,
                 trials=scan_trials(1), setting={"model": "other-model"})
    record_sweep(Tracker(uri, "no-scan"), name="mix", sweep_id="x1", algorithm="random", sources=MIXED, tags=TAGS,
                 trials=sweep[:2])
    return Study(uri, scan, sweep)
