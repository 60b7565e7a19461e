"""The one-call API on the toy model: calray.oneshot prunes, calray.evaluate scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset

import calray
from calray.errors import CalrayError
from calray.prune import REPORT_NAME

REPO = Path(__file__).resolve().parents[1]
TEXTS = [f"{name} has {n} apples and buys {n + 3} more, so {name} has {2 * n + 3} apples." for n in range(40)
         for name in ("Ada", "Bo")]


def test_import_calray_stays_cheap_and_names_the_api():
    code = "import sys, calray; print(sorted({'torch', 'transformers'} & set(sys.modules))); print(calray.oneshot.__module__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", "calray.api"]


def test_oneshot_on_a_mixture_saves_the_pruned_model(tmp_path: Path):
    pruned = calray.oneshot(model="toy", calibration="toy:gsm=4,toy:web=4", sparsity=0.6, seqlen=64,
                            output_dir=tmp_path / "out", layer_errors=False)
    model, report = pruned
    totals = report.totals()
    assert totals["sparsity"] == pytest.approx(0.6, abs=1e-3) and totals["linears"] > 0
    assert pruned.calibration.counts == {"toy:gsm": 4, "toy:web": 4} and pruned.calibration.seqlen == 64
    saved = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    assert saved["config"]["mixture"] == "toy:gsm=0.5,toy:web=0.5" and pruned.output_dir == tmp_path / "out"
    assert isinstance(model, torch.nn.Module)


def test_oneshot_on_a_dataset_with_two_four_then_evaluate_retention():
    pruned = calray.oneshot(model="toy", calibration=Dataset.from_dict({"text": TEXTS}), n_m="2:4", nsamples=4, seqlen=64)
    assert pruned.report.config["n_m"] == [2, 4] and pruned.calibration.counts[pruned.calibration.sources[0]] == 4
    weight = pruned.model.model.layers[0].mlp.up_proj.weight
    assert bool((weight.reshape(-1, 4) != 0).sum(dim=1).le(2).all())

    result = calray.evaluate(pruned, capabilities="toy", dims=["commonsense"], limit=4, dense="toy")
    assert set(result.scores.tasks) == {"toy:commonsense_ppl", "toy:piqa", "toy:arc"}
    assert result.retention is not None and set(result.retention.dimensions) == {"commonsense"}
    ppl = result.retention.tasks[0]
    assert ppl.task == "toy:commonsense_ppl" and ppl.pruned > ppl.dense  # 2:4 costs perplexity
    assert result.to_dict()["retention"]["total"] == result.retention.total


def test_texts_and_an_in_memory_model_give_the_same_calibration():
    from calray.api import calibration_mixture

    as_list = calibration_mixture(TEXTS)
    assert calibration_mixture(Dataset.from_dict({"text": TEXTS})) == as_list and as_list.startswith("texts:")


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"calibration": Dataset.from_dict({"body": TEXTS}), "sparsity": 0.5}, "no column 'text'"),
    ({"calibration": "toy:gsm=4", "sparsity": 0.5, "n_m": "2:4"}, "exactly one pruning target"),
    ({"calibration": "toy:gsm=4", "sparsity": 0.5, "format": "zip"}, "unknown export format"),
])
def test_bad_arguments_are_user_errors(kwargs, pattern):
    with pytest.raises(CalrayError, match=pattern):
        calray.oneshot(model="toy", **kwargs)
