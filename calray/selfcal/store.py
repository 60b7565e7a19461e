"""Generated sets on disk: cached by (model fingerprint, generator config, nsamples, seqlen,
seed), and written to a directory that is a calibration source.

A set's directory holds

- ``samples.jsonl``: one record per document (``text``, ``tokens``, and what the method
  knows about it: IGSP's ``dimension`` and ``perplexity``, SGS's ``perplexity``);
- ``selfcal.json``: the method, its full config, the model and its fingerprint, the set's
  information metrics (``calray.data.information_metrics`` on its windows, perplexity under
  the dense model included) and the method's summary (IGSP: its objective);
- ``sources.yaml``: a sources file registering the set as one source, so the directory
  itself is accepted wherever a source is (``--calib DIR``, ``--mix DIR=0.5,...``,
  ``--sources-file DIR``, a sweep's ``sources_file``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from calray.data.cache import cache_root
from calray.data.metrics import information_metrics
from calray.data.sources import FileOrigin, Source, check_source_name, stable_hash
from calray.data.windows import source_windows
from calray.selfcal.budget import Generated
from calray.selfcal.config import IGSPConfig, SelfCalConfig, SGSConfig
from calray.selfcal.igsp import generate_igsp
from calray.selfcal.selfcal import generate_selfcal
from calray.selfcal.sgs import generate_sgs

log = logging.getLogger(__name__)

SAMPLES = "samples.jsonl"
META = "selfcal.json"
SOURCES = "sources.yaml"
_FORMAT = 1  # bump when a generator's output changes for the same config, to invalidate caches

GeneratorConfig = SelfCalConfig | SGSConfig | IGSPConfig
_GENERATORS = {"selfcal": generate_selfcal, "sgs": generate_sgs, "igsp": generate_igsp}


@dataclass(frozen=True)
class GeneratedSet:
    """A generated set's directory, the source name its ``sources.yaml`` registers, its metadata."""

    dir: Path
    name: str
    meta: dict[str, Any]


def default_name(method: str, model: str, seed: int) -> str:
    """``selfcal:<method>-<model>-s<seed>``, the model shortened to its folder name."""
    short = re.sub(r"[^a-z0-9_.+-]+", "-", Path(str(model)).name.lower()).strip("-") or "model"
    return f"selfcal:{method}-{short}-s{seed}"


def _source(name: str, samples: Path, generated_meta: dict[str, Any]) -> Source:
    return Source(
        name=name, dimension="general", files=FileOrigin(paths=(str(samples),)), sampling=generated_meta["sampling"],
        join_with=generated_meta["join_with"], description=generated_meta["description"],
    )


def _describe(method: str, model: str, nsamples: int, seqlen: int, seed: int) -> str:
    return f"{method} set written by {model} (seed {seed}, for {nsamples} x {seqlen} tokens); see selfcal.json"


def _write_cache(
    entry: Path, generated: Generated, meta: dict[str, Any], model: Any, tokenizer: Any, *, progress: bool
) -> None:
    """Write the set and its metadata (with its information metrics) into ``entry``, atomically."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        with open(tmp / SAMPLES, "w") as out:
            for row in generated.records:
                out.write(json.dumps(row) + "\n")
        source = _source("selfcal:metrics", tmp / SAMPLES, meta)
        windows = source_windows(tokenizer, source, meta["nsamples"], seqlen=meta["seqlen"], seed=meta["seed"],
                                 use_cache=False)
        meta["metrics"] = information_metrics(windows, tokenizer=tokenizer, model=model, progress=progress)
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def generate_set(
    model: str,
    config: GeneratorConfig,
    *,
    nsamples: int,
    seqlen: int,
    seed: int,
    out: str | os.PathLike[str],
    name: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: bool = True,
    device: str = "cpu",
    dtype: str = "auto",
) -> GeneratedSet:
    """Generate (or take from the cache) the set that ``model`` writes under ``config`` and write
    it to ``out`` as a source named ``name`` (default ``default_name``). The model runs on
    ``device`` in ``dtype``; both join the cache key when not the defaults (sampling on another
    device or in another precision draws other text).

    >>> s = generate_set("toy", IGSPConfig(), nsamples=32, seqlen=256, seed=0, out="igsp/")  # doctest: +SKIP
    >>> s.name, s.meta["summary"]["objective"]  # doctest: +SKIP
    """
    from calray.evaluate.dense_cache import fingerprint_dir
    from calray.models import resolve_model
    from calray.prune.model_io import load_pretrained

    model_dir = resolve_model(model)
    fingerprint = fingerprint_dir(model_dir)
    settings = {"nsamples": nsamples, "seqlen": seqlen, "seed": seed}
    placement = {k: v for k, v in (("device", device), ("dtype", dtype)) if v not in ("cpu", "auto")}
    key = stable_hash({"model": fingerprint, "config": config.model_dump(mode="json"), **settings, **placement,
                       "format": _FORMAT})
    entry = cache_root(cache_dir) / "selfcal" / f"{config.method}-{key}"
    name = name or default_name(config.method, str(model), seed)
    check_source_name(name)  # before minutes of generation
    if use_cache and (entry / META).is_file():
        log.info("%s set from the cache: %s", config.method, entry)
        return write_set(entry, out, name=name)
    scratch = None if use_cache else Path(tempfile.mkdtemp(prefix="calray-selfcal-"))
    if scratch is not None:
        entry = scratch / "set"
    try:
        loaded: Any
        loaded, tokenizer = load_pretrained(model_dir, dtype=dtype)
        loaded.to(device)
        generated = _GENERATORS[config.method](loaded, tokenizer, config, progress=progress, **settings)  # type: ignore[operator]
        meta = {
            "method": config.method, "config": config.model_dump(mode="json"), "model": str(model),
            "model_fingerprint": fingerprint, **settings, **placement, "key": key, "documents": len(generated.records),
            "sampling": generated.sampling, "join_with": generated.join_with, "summary": generated.summary,
            "description": _describe(config.method, str(model), nsamples, seqlen, seed),
        }
        _write_cache(entry, generated, meta, loaded, tokenizer, progress=progress)
        return write_set(entry, out, name=name)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def write_set(entry: Path, out: str | os.PathLike[str], *, name: str) -> GeneratedSet:
    """Copy a cached set into ``out`` and add its ``sources.yaml`` (source ``name``)."""
    return save_set(set_files(entry), out, name=name)


def set_files(folder: Path) -> dict[str, bytes]:
    """The content (samples and metadata) of the set in ``folder``, as ``save_set`` takes it: how
    a set made on another machine (a Ray worker) travels to the one that prunes with it."""
    return {file: (folder / file).read_bytes() for file in (SAMPLES, META)}


def save_set(files: dict[str, bytes], out: str | os.PathLike[str], *, name: str) -> GeneratedSet:
    """Write a set's samples and metadata into ``out`` and add its ``sources.yaml`` (source ``name``)."""
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    for file in (SAMPLES, META):
        (target / file).write_bytes(files[file])
    meta = json.loads(files[META])
    spec: dict[str, Any] = {"dimension": "general", "files": SAMPLES, "sampling": meta["sampling"],
                            "description": meta["description"]}
    if meta["join_with"] is not None:
        spec["join_with"] = meta["join_with"]
    (target / SOURCES).write_text(yaml.safe_dump({"sources": {name: spec}}, sort_keys=False))
    return GeneratedSet(target, name, meta)
