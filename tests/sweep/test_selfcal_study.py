"""The self-calibration comparison's plan (one list sweep per seed) and its mean ± std table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from calray.errors import CalrayError
from calray.sweep.objective import Objective
from calray.sweep.results import SweepResult, TrialRecord
from calray.sweep.selfcal_study import load_study, mean_std, plan_study, study_rows

STUDY = """
name: cmp
model: toy
seeds: [0, 1]
nsamples: 8
seqlen: 64
generators: {igsp: {method: igsp}, sgs: {method: sgs, seed_source: "toy:encyclopedia"}}
baselines: {default: {"toy:web": 1}, uniform: {"toy:web": 1, "toy:gsm": 1}}
sweep: {prune: {method: sparsegpt, sparsity: 0.6}, evaluation: {capability_map: toy}}
"""


def test_one_list_sweep_per_seed_over_that_seeds_sets_and_the_baselines(tmp_path: Path):
    (tmp_path / "study.yaml").write_text(STUDY)
    study = load_study(tmp_path / "study.yaml")
    plan = plan_study(study, tmp_path / "sources.yaml", base=tmp_path)
    assert [s.name for s in plan.sweeps] == ["cmp-s0", "cmp-s1"]
    second = plan.sweeps[1]
    assert second.calibration.seed == 1 and second.calibration.nsamples == 8 and second.calibration.seqlen == 64
    assert second.search.algorithm == "list" and second.sources_file == str(tmp_path / "sources.yaml")
    assert second.space.sources == ["selfcal:igsp-s1", "selfcal:sgs-s1", "toy:gsm", "toy:web"]
    assert sorted(plan.labels[1].values()) == ["default", "igsp", "sgs", "uniform"]


def test_the_study_sets_model_space_and_search_itself(tmp_path: Path):
    (tmp_path / "study.yaml").write_text(STUDY.replace("sweep: {", "sweep: {search: {algorithm: optuna}, "))
    with pytest.raises(CalrayError, match="sweep.search is set by the study"):
        load_study(tmp_path / "study.yaml")


def _result(seed: int, totals: dict[str, float]) -> SweepResult:
    trials = [TrialRecord(f"t{i}", f"r{i}", "TERMINATED", dict.fromkeys(sources.split("+"), 0.5), seed,
                          {"objective": v, "retention/total": v, "retention/math": v - 1})
              for i, (sources, v) in enumerate(totals.items())]
    return SweepResult("id", "n", "p", "parent", "uri", "exp", Objective("total", ("math",)), {}, trials, ["math"])


def test_rows_give_mean_and_sample_std_over_seeds_best_first(tmp_path: Path):
    (tmp_path / "study.yaml").write_text(STUDY)
    plan = plan_study(load_study(tmp_path / "study.yaml"), tmp_path / "s.yaml", base=tmp_path)
    results = [_result(0, {"selfcal:igsp-s0": 80.0, "toy:web": 70.0, "toy:gsm+toy:web": 75.0}),
               _result(1, {"selfcal:igsp-s1": 84.0, "toy:web": 71.0, "toy:web+toy:gsm": 77.0})]
    header, rows = study_rows(plan, results)
    assert header == ["method", "math", "total", "total s0", "total s1"]
    assert rows == [["igsp", "81.0 ± 2.8", "82.0 ± 2.8", "80.0", "84.0"], ["uniform", "75.0 ± 1.4", "76.0 ± 1.4", "75.0", "77.0"],
                    ["default", "69.5 ± 0.7", "70.5 ± 0.7", "70.0", "71.0"]]
    assert mean_std([5.0]) == "5.0" and mean_std([]) == "n/a"


@pytest.mark.parametrize("name", ["selfcal_toy.yaml", "selfcal_llama.yaml"])
def test_the_shipped_study_configs_are_valid(name: str):
    from calray.selfcal import generator_config

    path = Path(__file__).resolve().parents[2] / "jobs" / "configs" / name
    study = load_study(path)
    assert [generator_config(g).method for g in study.generators.values()] == ["selfcal", "sgs", "igsp"]
    plan = plan_study(study, path.parent / "sources.yaml", base=path.parent)
    assert len(plan.sweeps) == len(study.seeds) == 3
    assert all(len(s.search.mixtures) == 3 + len(study.baselines) for s in plan.sweeps)
    assert plan.sweeps[0].prune.sparsity == 0.6 and plan.sweeps[0].prune.method == "sparsegpt"


def test_set_and_objective_rows_summarise_each_generators_seeds():
    from calray.sweep.selfcal_study import objective_rows, set_rows

    metrics = {"perplexity": 2.0, "seq_rep_4": 0.4, "ngram_diversity": 0.35, "vocab_coverage": 0.3}
    igsp = {"objective": 0.5, "seq_rep_4": {"selected": 0.4, "pool": 0.6}, "perplexity_spread": {"selected": 0.1, "pool": 0.3},
            "selected_documents": 100, "pool_documents": 300}
    metas = {"selfcal": [{"documents": 10, "metrics": metrics, "summary": {}, "seed": s} for s in (0, 1)],
             "igsp": [{"documents": 12, "metrics": {**metrics, "perplexity": 3.0}, "summary": igsp, "seed": 0}]}
    header, rows = set_rows(metas)
    assert header[:3] == ["generator", "documents", "perplexity"]
    assert rows == [["selfcal", "10 ± 0", "2.000 ± 0.000", "0.400 ± 0.000", "0.350 ± 0.000", "0.300 ± 0.000"],
                    ["igsp", "12", "3.000", "0.400", "0.350", "0.300"]]
    assert objective_rows(metas)[1] == [["igsp", "0", "0.5000", "0.400", "0.600", "0.100", "0.300", "100 / 300"]]


def test_sets_written_by_ray_tasks_equal_those_written_in_the_driver(ray_session, tmp_path: Path):
    """``generation.where: ray`` (one task per set, as on a cluster's GPUs) writes the same sets, and
    a sources file naming them, as generating them in the job's process."""
    from calray.sweep.selfcal_study import generate_sets

    text = STUDY.replace("nsamples: 8", "nsamples: 2").replace("seeds: [0, 1]", "seeds: [3]").replace(
        "generators: {igsp: {method: igsp}, sgs: {method: sgs, seed_source: \"toy:encyclopedia\"}}",
        "generators: {own: {method: selfcal, budget: {batch_size: 4}}}")
    (tmp_path / "study.yaml").write_text(text + "out_dir: local\n")
    local, local_metas = generate_sets(load_study(tmp_path / "study.yaml"), base=tmp_path)
    remote_study = load_study(tmp_path / "study.yaml", overrides=["out_dir=remote", "generation.where=ray"])
    remote, remote_metas = generate_sets(remote_study, base=tmp_path)
    assert (tmp_path / "remote" / "own-s3" / "samples.jsonl").read_bytes() == \
        (tmp_path / "local" / "own-s3" / "samples.jsonl").read_bytes()
    assert remote_metas == local_metas and remote_metas["own"][0]["documents"] > 0
    assert yaml.safe_load(remote.read_text())["sources"]["selfcal:own-s3"]["files"] == \
        str(tmp_path / "remote" / "own-s3" / "samples.jsonl")


def test_cuda_generation_in_ray_tasks_needs_their_gpus(tmp_path: Path):
    (tmp_path / "study.yaml").write_text(STUDY + "device: cuda\ngeneration: {where: ray}\n")
    with pytest.raises(CalrayError, match="generation.num_gpus"):
        load_study(tmp_path / "study.yaml")
