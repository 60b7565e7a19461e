"""A job's calibration windows, built once per distinct setting and shared through the object store.

Sequential mode prunes on the mixture's ``nsamples`` windows (``build_calibration``).
Independent mode needs, per source of the mixture, the statistics of the windows sequential
mode allocates it (its first n_s windows), weighted n_s / nsamples: keyed by (model
fingerprint, source, n_s, seqlen, seed, sampling), and their windows are only built when some
shard lacks the statistics. Mixtures with the same allocation share every key. Explicit
windows are keyed by their content. Statistics collected through an anchor (``through``: the
anchor's job id on the shards) are keyed by it too.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
import torch

from calray.cluster.job import Calibration
from calray.cluster.stats_cache import tensor_digest
from calray.data import allocate, build_calibration, get_source, parse_mixture
from calray.prune import resolve_seqlen


@dataclass
class JobWindows:
    """What the pool hands a pipeline for one job: the sequential windows, or the weighted
    statistics keys with a way to build each key's windows; ``info`` goes into the result."""

    info: dict[str, Any]
    windows: Callable[[], ray.ObjectRef] | None = None  # sequential
    parts: list[tuple[float, str]] = field(default_factory=list)  # independent: (weight, statistics key)
    part_windows: dict[str, Callable[[], ray.ObjectRef]] = field(default_factory=dict)
    nsamples: int = 0
    seqlen: int = 0
    # The set a sequential job with these settings prunes on, and a cache key per row (None for
    # explicit windows): what the calibration set's information metrics describe in both modes.
    allocated: Callable[[], tuple[torch.Tensor, list[str] | None]] | None = None


def row_keys(counts: dict[str, int], *, seqlen: int, seed: int, sampling: Any, **_: Any) -> list[str]:
    """One key per row of a set allocated as ``counts`` (sources in order, first windows first):
    window k of a source is the same in every mixture, so it keys per-window caches."""
    keys = []
    for source, count in counts.items():
        method = sampling.get(source) if isinstance(sampling, dict) else sampling
        base = f"{source}@{get_source(source).fingerprint()}/L{seqlen}/seed{seed}/{method or 'default'}"
        keys += [f"{base}/{k}" for k in range(count)]
    return keys


class WindowBuilder:
    """Builds and remembers (LRU) the windows of each distinct calibration setting."""

    def __init__(
        self, tokenizer: Any, model_config: Any, fingerprint: str, *, cache_dir: str | None = None, keep: int = 32
    ) -> None:
        self.tokenizer = tokenizer
        self.model_config = model_config
        self.fingerprint = fingerprint
        self.cache_dir = cache_dir
        self.keep = keep
        self._refs: OrderedDict[tuple[Any, ...], ray.ObjectRef] = OrderedDict()
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()

    def for_job(self, calibration: Calibration, *, sequential: bool, through: str | None = None) -> JobWindows:
        seqlen = resolve_seqlen(calibration.seqlen, self.model_config)
        n = calibration.nsamples
        anchored = f"/through-{through}" if through else ""
        if calibration.windows is not None:
            ids = calibration.windows
            key = f"{self.fingerprint}/windows-{tensor_digest(ids)}{anchored}"
            ref = self._remember(("windows", key), lambda: ids)
            info = {"windows": key.split("/")[-1], "nsamples": n, "seqlen": int(ids.shape[1])}
            out = JobWindows(info=info, nsamples=n, seqlen=int(ids.shape[1]), allocated=lambda: (ids, None))
            if sequential:
                out.windows = ref
            else:
                out.parts, out.part_windows = [(1.0, key)], {key: ref}
            return out
        mixture = parse_mixture(calibration.mixture)  # type: ignore[arg-type]
        common: dict[str, Any] = {"nsamples": n, "seqlen": seqlen, "seed": calibration.seed, "sampling": calibration.sampling}
        if sequential:
            calib = self._build(mixture, **common)
            ids = calib.input_ids
            info = {"mixture": mixture.text(), "counts": calib.counts, "id": calib.id, "nsamples": n, "seqlen": seqlen,
                    "seed": calibration.seed}
            keys = row_keys(calib.counts, **common)
            return JobWindows(info=info, windows=self._remember(("set", calib.id), lambda: ids), nsamples=n, seqlen=seqlen,
                              allocated=lambda: (ids, keys))
        counts = {s: c for s, c in allocate(mixture.as_dict(), n).items() if c > 0}
        out = JobWindows(
            info={"mixture": mixture.text(), "weights": mixture.as_dict(), "counts": counts, "seqlen": seqlen,
                  "seed": calibration.seed, "ids": {}},
            nsamples=n, seqlen=seqlen,
        )
        by_source: dict[str, Callable[[], ray.ObjectRef]] = {}
        for source, count in counts.items():
            # Keyed without building the windows: they are built only if a shard lacks the statistics.
            method = calibration.sampling.get(source) if isinstance(calibration.sampling, dict) else calibration.sampling
            windows_id = (
                f"{source}@{get_source(source).fingerprint()}/n{count}/L{seqlen}/seed{calibration.seed}/{method or 'default'}"
            )
            key = f"{self.fingerprint}/{windows_id}{anchored}"
            out.info["ids"][source] = windows_id
            out.parts.append((count / n, key))
            single = parse_mixture({source: 1.0})
            by_source[source] = out.part_windows[key] = self._remember(
                ("source", key), functools.partial(self._input_ids, single, {**common, "nsamples": count})
            )

        def allocated() -> tuple[torch.Tensor, list[str]]:
            # The first count_s windows of each source: exactly build_calibration's rows for this mixture.
            return torch.cat([ray.get(by_source[s]()) for s in counts]), row_keys(counts, **common)

        out.allocated = allocated
        return out

    def _input_ids(self, mixture: Any, settings: dict[str, Any]) -> torch.Tensor:
        return self._build(mixture, **settings).input_ids

    def _build(self, mixture: Any, **kwargs: Any) -> Any:
        # One at a time: concurrent requests (threads of the pool) would otherwise load the same
        # source files and write the same window caches at once; building is cheap next to pruning.
        with self._build_lock:
            return build_calibration(self.tokenizer, mixture, cache_dir=self.cache_dir, **kwargs)

    def _remember(self, key: tuple[Any, ...], make: Callable[[], torch.Tensor]) -> Callable[[], ray.ObjectRef]:
        """A thunk putting the windows in the object store once (kept for the ``keep`` latest settings)."""

        def ref() -> ray.ObjectRef:
            with self._lock:
                if key in self._refs:
                    self._refs.move_to_end(key)
                    return self._refs[key]
            value = ray.put(make())
            with self._lock:
                self._refs[key] = value
                while len(self._refs) > self.keep:
                    self._refs.popitem(last=False)
            return value

        return ref
