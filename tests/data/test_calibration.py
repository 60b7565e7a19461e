from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import torch

from calray.data import CalibrationSet, Source, build_calibration, register_source
from calray.errors import CalrayError

from .helpers import words


@pytest.fixture
def toy_sources() -> None:
    register_source(Source(name="mine:math", dimension="math", loader=[f"{i} + {i} = {2 * i}" for i in range(400)]))
    register_source(
        Source(name="mine:prose", dimension="general", loader=[words(i, 60) for i in range(100)], sampling="random-window")
    )
    register_source(Source(name="mine:code", dimension="code", loader=[f"def f{i}(x):\n    return x * {i}" for i in range(300)]))


def test_build_stacks_each_sources_windows_in_name_order(tok, tmp_path: Path, toy_sources: None):
    calib = build_calibration(tok, "mine:math=0.25,mine:prose=0.75", nsamples=8, seqlen=32, cache_dir=tmp_path)
    assert calib.input_ids.shape == (8, 32) and calib.input_ids.dtype == torch.int64
    assert calib.counts == {"mine:math": 2, "mine:prose": 6}
    assert calib.sources == ["mine:math"] * 2 + ["mine:prose"] * 6 and calib.windows == [0, 1, 0, 1, 2, 3, 4, 5]
    assert calib.sampling == {"mine:math": "packed", "mine:prose": "random-window"}
    assert torch.equal(calib.select("mine:math"), calib.input_ids[:2])
    with pytest.raises(CalrayError, match="not in this calibration set"):
        calib.select("mine:code")


def test_two_builds_write_byte_identical_files(tok, tmp_path: Path, toy_sources: None):
    spec = "mine:math=3,mine:prose=2,mine:code=3"
    a = build_calibration(tok, spec, seqlen=48, seed=3, cache_dir=tmp_path / "cache-a")
    b = build_calibration(tok, spec, seqlen=48, seed=3, cache_dir=tmp_path / "cache-b")
    from_cache = build_calibration(tok, spec, seqlen=48, seed=3, cache_dir=tmp_path / "cache-a")
    uncached = build_calibration(tok, spec, seqlen=48, seed=3, use_cache=False)
    paths = []
    for name, calib in [("a", a), ("b", b), ("cached", from_cache), ("uncached", uncached)]:
        paths.append(tmp_path / f"{name}.arrow")
        calib.save(paths[-1])
    blobs = {p.read_bytes() for p in paths}
    assert len(blobs) == 1
    other_seed = build_calibration(tok, spec, seqlen=48, seed=4, cache_dir=tmp_path / "cache-a")
    assert not torch.equal(other_seed.input_ids, a.input_ids) and other_seed.id != a.id


def test_window_k_of_a_source_is_the_same_in_every_mixture(tok, tmp_path: Path, toy_sources: None):
    two = build_calibration(tok, "mine:math=0.5,mine:prose=0.5", nsamples=8, seqlen=32, cache_dir=tmp_path)
    three = build_calibration(tok, "mine:math=0.5,mine:prose=0.25,mine:code=0.25", nsamples=16, seqlen=32, use_cache=False)
    assert torch.equal(three.select("mine:math")[:4], two.select("mine:math"))
    assert torch.equal(three.select("mine:prose"), two.select("mine:prose"))


def test_saved_set_loads_back_with_its_provenance(tok, tmp_path: Path, toy_sources: None):
    calib = build_calibration(
        tok, "mine:math=1,mine:prose=3", seqlen=24, seed=5, sampling={"mine:prose": "packed"}, bos=True, cache_dir=tmp_path
    )
    calib.save(tmp_path / "calib.arrow")
    loaded = CalibrationSet.load(tmp_path / "calib.arrow")
    assert torch.equal(loaded.input_ids, calib.input_ids)
    assert loaded.sources == calib.sources and loaded.windows == calib.windows
    assert loaded.mixture.id == calib.mixture.id and loaded.id == calib.id
    assert loaded.sampling == {"mine:math": "packed", "mine:prose": "packed"} and loaded.bos and loaded.seed == 5
    assert (loaded.input_ids[:, 0] == tok.bos_token_id).all()


def test_loading_something_else_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CalrayError, match="does not exist"):
        CalibrationSet.load(tmp_path / "missing.arrow")
    (tmp_path / "junk.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(CalrayError, match="not a calray calibration file"):
        CalibrationSet.load(tmp_path / "junk.arrow")
    table = pa.table({"x": [1, 2]})
    with pa.OSFile(str(tmp_path / "other.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    with pytest.raises(CalrayError, match="not a calray calibration file"):
        CalibrationSet.load(tmp_path / "other.arrow")
