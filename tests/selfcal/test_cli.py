"""``calray selfcal`` end to end on the toy model, and its directory as a calibration source."""

from __future__ import annotations

import json
from pathlib import Path

from calray.cli import main
from calray.data import build_calibration, parse_mixture, use_sources_file
from calray.data.tokenizer import load_tokenizer
from calray.models import resolve_model

TINY = ["--set", "budget.batch_size=6", "--set", "budget.max_new_tokens=16", "--threads", "1"]


def test_selfcal_writes_a_cached_source_directory_that_prune_reads(tmp_path: Path, capsys):
    out, cache = tmp_path / "set", tmp_path / "cache"
    argv = ["selfcal", "--method", "selfcal", "--model", "toy", "--nsamples", "2", "--seqlen", "32", "--seed", "3",
            "--out", str(out), "--cache-dir", str(cache), *TINY]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "source selfcal:selfcal-toy-s3" in printed and "seq_rep_4" in printed
    meta = json.loads((out / "selfcal.json").read_text())
    assert meta["method"] == "selfcal" and meta["seed"] == 3 and meta["config"]["budget"]["batch_size"] == 6
    assert meta["model_fingerprint"] and meta["metrics"]["perplexity"] > 1 and 0 <= meta["metrics"]["seq_rep_4"] < 1
    samples = (out / "samples.jsonl").read_text().splitlines()
    assert len(samples) == meta["documents"] > 0
    assert main([*argv[:-len(TINY)], *TINY, "--out", str(tmp_path / "again")]) == 0  # from the cache: same set
    assert (tmp_path / "again" / "samples.jsonl").read_text().splitlines() == samples
    assert len(list((cache / "selfcal").iterdir())) == 1

    pruned = tmp_path / "pruned"
    common = ["prune", "--model", "toy", "--method", "sparsegpt", "--sparsity", "0.6", "--nsamples", "2", "--seqlen", "32",
              "--threads", "1", "--cache-dir", str(cache)]
    assert main([*common, "--calib", str(out), "--out", str(pruned)]) == 0
    report = json.loads((pruned / "pruning_report.json").read_text())
    assert report["config"]["counts"] == {"selfcal:selfcal-toy-s3": 2}
    assert main([*common, "--mix", f"{out}=0.5,toy:web=0.5", "--out", str(pruned), "--overwrite"]) == 0
    report = json.loads((pruned / "pruning_report.json").read_text())
    assert report["config"]["counts"] == {"selfcal:selfcal-toy-s3": 1, "toy:web": 1}


def test_a_set_directory_is_a_sources_file_and_a_mixture_entry(tmp_path: Path):
    out = tmp_path / "set"
    assert main(["selfcal", "--method", "selfcal", "--model", "toy", "--nsamples", "1", "--seqlen", "16", "--out", str(out),
                 "--name", "selfcal:mine", "--cache-dir", str(tmp_path / "cache"), *TINY]) == 0
    assert use_sources_file(out) == ["selfcal:mine"]  # what a sweep's `sources_file: DIR` does
    calib = build_calibration(load_tokenizer(resolve_model("toy")), "selfcal:mine=1,toy:gsm=1", nsamples=2, seqlen=16,
                              cache_dir=tmp_path / "cache")
    assert calib.counts == {"selfcal:mine": 1, "toy:gsm": 1}
    assert parse_mixture(f"{out}=1").sources == ["selfcal:mine"]


def test_sources_list_shows_the_three_methods(capsys):
    assert main(["sources", "list"]) == 0
    methods = capsys.readouterr().out.split("\n\n")[-1].splitlines()
    assert [line.split()[0] for line in methods[3:]] == ["selfcal", "sgs", "igsp"]


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, capsys):
    base = ["selfcal", "--model", "toy", "--out", str(tmp_path / "x"), "--nsamples", "1"]
    assert main([*base, "--method", "selfcal", "--seed-source", "toy:web"]) == 2
    assert main([*base, "--method", "igsp", "--set", "balance_wieght=1"]) == 2
    assert main([*base, "--method", "igsp", "--name", "Mine/set"]) == 2
    assert main(["prune", "--model", "toy", "--method", "sparsegpt", "--sparsity", "0.5", "--calib", str(tmp_path),
                 "--out", str(tmp_path / "p")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 4 and "--seed-source is an SGS knob" in errors[0] and "balance_wieght" in errors[1]
    assert "source name 'Mine/set' is not allowed" in errors[2] and "has no sources.yaml" in errors[3]
