"""A calibration set: ``nsamples`` token windows of ``seqlen`` drawn from a mixture of sources.

This is what pruning consumes. ``build_calibration`` allocates the samples to sources
(largest remainder), takes the first n_s windows of each source's deterministic stream
(``calray.data.windows``) and stacks them, sources in name order. The same arguments give
the same tensor in every process, and window k of a source is the same in every mixture.

Example::

    calib = build_calibration(tokenizer, "c4=0.5,gsm8k=0.5", nsamples=128, seqlen=2048, seed=0)
    calib.input_ids.shape   # torch.Size([128, 2048])
    calib.counts            # {'c4': 64, 'gsm8k': 64}
    calib.save("calib.arrow"); CalibrationSet.load("calib.arrow")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from calray.data.cache import read_table, table_meta, table_windows, windows_table, write_table
from calray.data.mixture import Mixture, parse_mixture
from calray.data.sources import get_source, stable_hash
from calray.data.tokenizer import tokenizer_fingerprint
from calray.data.windows import source_windows
from calray.errors import CalrayError

_FILE_VERSION = 1


@dataclass
class CalibrationSet:
    """Token windows with the source and stream index of each row, and how they were built."""

    input_ids: torch.Tensor  # (nsamples, seqlen) int64
    sources: list[str]  # per row: the source it came from
    windows: list[int]  # per row: its index in that source's stream
    mixture: Mixture
    seed: int
    sampling: dict[str, str]  # per source: the sampling method used
    bos: bool = False
    tokenizer: str = ""  # tokenizer fingerprint
    source_fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def nsamples(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def seqlen(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def counts(self) -> dict[str, int]:
        return {name: self.sources.count(name) for name in dict.fromkeys(self.sources)}

    @property
    def id(self) -> str:
        """A hash of how the set was built: mixture, counts, seqlen, seed, sampling, tokenizer, sources."""
        return stable_hash(self._meta(), length=12)

    def select(self, source: str) -> torch.Tensor:
        """The rows of one source, ``(n_source, seqlen)``."""
        rows = [i for i, name in enumerate(self.sources) if name == source]
        if not rows:
            raise CalrayError(f"source {source!r} is not in this calibration set (it has {sorted(set(self.sources))})")
        return self.input_ids[rows]

    def _meta(self) -> dict[str, Any]:
        return {
            "version": _FILE_VERSION,
            "mixture": self.mixture.text(),
            "mixture_id": self.mixture.id,
            "counts": self.counts,
            "seqlen": self.seqlen,
            "seed": self.seed,
            "sampling": dict(sorted(self.sampling.items())),
            "bos": self.bos,
            "tokenizer": self.tokenizer,
            "source_fingerprints": dict(sorted(self.source_fingerprints.items())),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an Arrow IPC file: ``input_ids`` (fixed-size int32 lists), ``source``, ``window``."""
        columns = {"source": pa.array(self.sources, pa.string()), "window": pa.array(self.windows, pa.int32())}
        write_table(path, windows_table(self.input_ids.numpy(), columns, meta=self._meta()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CalibrationSet:
        """Read a file written by ``save``."""
        if not os.path.isfile(path):
            raise CalrayError(f"calibration file {str(path)!r} does not exist; build one with `calray calib build`")
        try:
            table = read_table(path)
            meta = table_meta(table)
            ids = torch.from_numpy(table_windows(table).astype(np.int64))
        except (pa.ArrowInvalid, KeyError) as exc:
            raise CalrayError(f"{str(path)!r} is not a calray calibration file: {exc}") from None
        if meta.get("version") != _FILE_VERSION:
            raise CalrayError(f"{str(path)!r} is not a calray calibration file (version {meta.get('version')!r})")
        weights = {k: float(v) for k, v in (p.split("=") for p in meta["mixture"].split(","))}
        return cls(
            input_ids=ids,
            sources=table.column("source").to_pylist(),
            windows=table.column("window").to_pylist(),
            mixture=Mixture(tuple(sorted(weights.items())), sum(meta["counts"].values())),
            seed=meta["seed"],
            sampling=meta["sampling"],
            bos=meta["bos"],
            tokenizer=meta["tokenizer"],
            source_fingerprints=meta["source_fingerprints"],
        )


def build_calibration(
    tokenizer: Any,
    mixture: str | Mapping[str, float] | Mixture,
    *,
    nsamples: int | None = None,
    seqlen: int = 2048,
    seed: int = 0,
    sampling: str | Mapping[str, str] | None = None,
    bos: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> CalibrationSet:
    """Draw a calibration set of ``nsamples`` x ``seqlen`` tokens from ``mixture``.

    ``mixture``: ``"c4=0.5,gsm8k=0.5"``, ``"c4=64,gsm8k=64"`` (counts; they set nsamples when
    it is None), a dict, or a ``Mixture``. ``nsamples`` defaults to the counts' sum, else 128.
    ``sampling``: one method for every source, a per-source dict, or None for each source's
    own default. Windows are cached under ``cache_dir`` (default ``$CALRAY_CACHE`` or
    ``~/.cache/calray``); ``use_cache=False`` neither reads nor writes the cache.
    """
    mix = parse_mixture(mixture)
    counts = mix.counts(nsamples)
    fingerprint = tokenizer_fingerprint(tokenizer)
    rows: list[np.ndarray] = []
    names: list[str] = []
    indices: list[int] = []
    methods: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    for name, count in counts.items():
        source = get_source(name)
        method = sampling.get(name) if isinstance(sampling, Mapping) else sampling
        methods[name] = method or source.sampling
        fingerprints[name] = source.fingerprint()
        if count == 0:
            continue
        windows = source_windows(
            tokenizer,
            source,
            count,
            seqlen=seqlen,
            seed=seed,
            sampling=methods[name],
            bos=bos,
            cache_dir=cache_dir,
            use_cache=use_cache,
        )
        rows.append(windows)
        names += [name] * count
        indices += list(range(count))
    return CalibrationSet(
        input_ids=torch.from_numpy(np.concatenate(rows).astype(np.int64)),
        sources=names,
        windows=indices,
        mixture=mix,
        seed=seed,
        sampling=methods,
        bos=bos,
        tokenizer=fingerprint,
        source_fingerprints=fingerprints,
    )
