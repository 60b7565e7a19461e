"""The per-source Hessian cache of the independent mode, kept by each shard for its blocks.

In independent mode every block's statistics come from the *dense* model's activations, so
they depend only on (model, source windows, blocks) and are computed once per source; a
mixture is then a weighted sum (``BlockStatistics.mix``) and costs no forward pass. A shard
keeps the statistics it computed in memory up to ``memory_bytes``; the least recently used
spill to ``directory`` as safetensors files (written atomically, so shards and pipelines of
the same model can share a directory), which are deleted oldest-first beyond ``disk_bytes``.
An entry evicted from both is simply computed again when asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from calray.prune import BlockStatistics, InputStatistic

log = logging.getLogger(__name__)

Entry = list[BlockStatistics]  # one per block of the shard, in block order


def entry_bytes(entry: Sequence[BlockStatistics]) -> int:
    return sum(s.value.numel() * s.value.element_size() for block in entry for s in block.stats.values())


class StatisticsCache:
    """key -> per-block statistics, in memory (LRU, ``memory_bytes``) then on disk (``disk_bytes``).

    >>> cache = StatisticsCache(memory_bytes=1 << 30)
    >>> cache.put("c4|...", [stats_block_0, stats_block_1])  # doctest: +SKIP
    >>> cache.get("c4|...")                                  # doctest: +SKIP
    """

    def __init__(
        self, *, memory_bytes: int, directory: str | Path | None = None, disk_bytes: int | None = None
    ) -> None:
        self.memory_bytes = memory_bytes
        self.directory = Path(directory) if directory is not None else None
        self.disk_bytes = disk_bytes
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()  # a shard's control and compute threads both look entries up
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    # --- lookups -----------------------------------------------------------------------------
    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._memory:
                return True
            path = self._path(key)
            return path is not None and path.is_file()

    def get(self, key: str) -> Entry | None:
        """The entry, from memory or (read back into memory) from disk; None when absent."""
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            path = self._path(key)
            if path is None or not path.is_file():
                return None
            try:
                entry = _read(path)
                os.utime(path)  # most recently used on disk too
            except (OSError, ValueError, KeyError) as exc:
                log.warning("statistics file %s is unreadable (%s); it will be computed again", path, exc)
                return None
            self._memory[key] = entry
            self._shrink()
            return entry

    def put(self, key: str, entry: Entry) -> None:
        with self._lock:
            self._memory[key] = entry
            self._memory.move_to_end(key)
            self._shrink()

    @property
    def memory_used(self) -> int:
        with self._lock:
            return sum(entry_bytes(e) for e in self._memory.values())

    def keys_in_memory(self) -> list[str]:
        with self._lock:
            return list(self._memory)

    # --- eviction ----------------------------------------------------------------------------
    def _shrink(self) -> None:
        """Spill least recently used entries until memory fits (the newest always stays)."""
        used = sum(entry_bytes(e) for e in self._memory.values())
        while used > self.memory_bytes and len(self._memory) > 1:
            key, entry = self._memory.popitem(last=False)
            used -= entry_bytes(entry)
            path = self._path(key)
            if path is not None and not path.is_file():
                _write(path, key, entry)
                log.info("spilled statistics %s to %s", key, path)
        self._trim_disk()

    def _trim_disk(self) -> None:
        if self.directory is None or self.disk_bytes is None:
            return
        files = sorted(self.directory.glob("*.safetensors"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.disk_bytes:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            log.info("deleted spilled statistics %s (disk cap %d bytes)", path, self.disk_bytes)

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"


def _write(path: Path, key: str, entry: Entry) -> None:
    """One safetensors file: tensors ``{block}/{group}``, groups and token counts in the metadata."""
    tensors = {f"{b}/{g}": s.value.detach().cpu().contiguous() for b, block in enumerate(entry) for g, s in block.stats.items()}
    layout = [
        {"kind": block.kind, "groups": block.groups, "tokens": {g: s.tokens for g, s in block.stats.items()},
         "stat_kinds": {g: s.kind for g, s in block.stats.items()}}
        for block in entry
    ]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    save_file(tensors, str(tmp), metadata={"key": key, "layout": json.dumps(layout)})
    os.replace(tmp, path)


def _read(path: Path) -> Entry:
    with safe_open(str(path), framework="pt") as f:
        layout = json.loads(f.metadata()["layout"])
        entry = []
        for b, block in enumerate(layout):
            stats = {
                g: InputStatistic(block["stat_kinds"][g], f.get_tensor(f"{b}/{g}"), int(block["tokens"][g]))
                for g in block["tokens"]
            }
            groups = {g: tuple(names) for g, names in block["groups"].items()}
            entry.append(BlockStatistics(block["kind"], groups, stats))
    return entry


def tensor_digest(tensor: torch.Tensor) -> str:
    """A content hash of token windows, for cache keys of explicit calibration windows."""
    data = tensor.detach().cpu().contiguous()
    h = hashlib.sha256(f"{tuple(data.shape)}:{data.dtype}".encode())
    h.update(data.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]
