"""Outputs appear whole or not at all: ``save_pruned`` interrupted at each write stage leaves
the previous directory (or none), never a partial one; non-empty and unwritable output
locations are refused, in one line, before any work."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
import transformers.modeling_utils

import calray.atomic
from calray.atomic import check_writable, write_atomic
from calray.cli import main
from calray.errors import CalrayError
from calray.prune import REPORT_NAME, PruningReport
from calray.prune.model_io import save_pruned
from calray.tiny import tiny_model, tiny_tokenizer


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Path:
    """An existing directory this process cannot create files in (root ignores modes: /sys)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    for candidate in (locked, Path("/sys")):
        try:
            fd, probe = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(probe)
    pytest.skip("no unwritable directory here")


def _disk_full(tensors, filename, metadata=None):  # a weights write that runs out of space half-way
    Path(filename).write_bytes(b"\0" * 100)
    raise OSError(errno.ENOSPC, "No space left on device", filename)


def _interrupted(original):
    def save_then_interrupt(*args, **kwargs):  # the files are written, then Ctrl-C lands
        original(*args, **kwargs)
        raise KeyboardInterrupt
    return save_then_interrupt


def _rename_fails(real):
    def replace(src, dst):
        if ".tmp" in Path(src).name and Path(src).is_dir():
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)
    return replace


STAGES = ("weights", "tokenizer", "report", "rename")


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("before", ["nothing", "a good model"])
def test_save_pruned_interrupted_at_any_stage_leaves_the_old_directory_or_nothing(stage, before, tmp_path, monkeypatch):
    model, tokenizer = tiny_model("llama"), tiny_tokenizer()
    out = tmp_path / "pruned"
    if before != "nothing":
        save_pruned(model, tokenizer, PruningReport([], 1.0, {"run": "old"}), out)
        old = snapshot(out)
    if stage == "weights":
        monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", _disk_full)
    elif stage == "tokenizer":
        monkeypatch.setattr(tokenizer, "save_pretrained", _interrupted(tokenizer.save_pretrained))
    elif stage == "report":
        monkeypatch.setattr(PruningReport, "save", _interrupted(PruningReport.save))
    else:
        monkeypatch.setattr(calray.atomic.os, "replace", _rename_fails(os.replace))

    with pytest.raises((OSError, KeyboardInterrupt)):
        save_pruned(model, tokenizer, PruningReport([], 2.0, {"run": "new"}), out, overwrite=True)
    if before == "nothing":
        assert not out.exists()
    else:
        assert snapshot(out) == old
    assert leftovers(tmp_path) == []  # no temporary sibling left behind


def test_save_pruned_refuses_a_non_empty_directory_unless_overwrite_then_replaces_it_whole(tmp_path):
    model, tokenizer = tiny_model("llama"), tiny_tokenizer()
    out = tmp_path / "pruned"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CalrayError, match="is not empty; pass --overwrite"):
        save_pruned(model, tokenizer, PruningReport([], 1.0), out)
    assert snapshot(out) == {"notes.txt": b"mine"}
    save_pruned(model, tokenizer, PruningReport([], 1.0), out, overwrite=True)
    assert "notes.txt" not in snapshot(out) and (out / "model.safetensors").is_file()
    assert json.loads((out / REPORT_NAME).read_text())["totals"]["seconds"] == 1.0
    assert leftovers(tmp_path) == []


def test_write_atomic_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "scores.json"
    write_atomic(path, "old\n")
    monkeypatch.setattr(calray.atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(OSError):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n" and leftovers(tmp_path) == []


def test_check_writable_refuses_unwritable_locations_and_creates_nothing(tmp_path, unwritable_dir):
    with pytest.raises(CalrayError, match="is not writable"):
        check_writable(unwritable_dir / "new" / "deeper", what="--out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CalrayError, match="is a file, not a directory"):
        check_writable(tmp_path / "file" / "out.json", what="--json")
    check_writable(tmp_path / "a" / "b" / "c.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "locked"]  # nothing created, not even a/


# --- the CLI: refused in one line, exit code 2, before any model is loaded ------------------------------
@pytest.fixture
def no_work(monkeypatch):
    """Loading a model (the first expensive step of every command here) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the output location was checked")
    import calray.data
    import calray.models

    monkeypatch.setattr(calray.models, "resolve_model", refuse)
    monkeypatch.setattr(calray.data, "load_tokenizer", refuse)


def _one_line_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("calray: error:"), err
    return err[0]


def test_prune_refuses_a_non_empty_out_before_work(tmp_path, no_work, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["prune", "--model", "tiny:llama", "--method", "magnitude", "--sparsity", "0.5", "--mix", "x=1", "--out", str(out)]
    assert main(args) == 2
    assert "is not empty; pass --overwrite" in _one_line_error(capsys)
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("command", ["prune", "eval", "metrics", "calib", "report"])
def test_unwritable_outputs_are_refused_before_work(command, unwritable_dir, no_work, capsys):
    target = str(unwritable_dir / "out")
    args = {
        "prune": ["prune", "--model", "tiny:llama", "--method", "magnitude", "--sparsity", "0.5", "--mix", "x=1",
                  "--out", target],
        "eval": ["eval", "--model", "tiny:llama", "--json", target + ".json"],
        "metrics": ["metrics", "--model", "tiny:llama", "--mix", "x=1", "--json", target + ".json"],
        "calib": ["calib", "build", "--model", "tiny:llama", "--mix", "x=1", "--out", target + ".arrow"],
        "report": ["report", "--experiment", "none", "--out", target + ".md"],
    }[command]
    assert main(args) == 2
    assert "is not writable" in _one_line_error(capsys)
