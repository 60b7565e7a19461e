"""Dense scores are computed once per (model fingerprint, task spec, data) and kept on disk.

One JSON file per task under ``<root>/<fingerprint>/``, written atomically, so parallel
trials of a sweep can share the cache and a map's dimensions can be evaluated separately.
The fingerprint of a model directory hashes its config and weight files (digests of large
files are memoised by path, size and mtime); in-memory models hash their tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calray.evaluate.builtin.sources import LocalData
from calray.evaluate.capabilities import CapabilityMap, TaskSpec
from calray.evaluate.tasks.base import TaskScore

CACHE_VERSION = 3  # 3: scores keep per-item values (2 was an older, other layout)


def default_cache_dir() -> Path:
    return Path(os.environ.get("CALRAY_CACHE", Path.home() / ".cache" / "calray")) / "dense-scores"


def _file_digest(path: Path, memo: Path | None) -> str:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    memo_file = memo / key if memo else None
    if memo_file and memo_file.is_file():
        return memo_file.read_text()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo_file:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        memo_file.write_text(digest)
    return digest


def fingerprint_dir(path: str | Path, *, memo: Path | None = None) -> str:
    """sha256 over a model directory's config, tokenizer and weight files."""
    path = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and p.suffix in {".json", ".safetensors", ".bin", ".model", ".txt"}):
        h.update(f.name.encode() + b"\0" + _file_digest(f, memo).encode())
    return h.hexdigest()[:32]


def fingerprint_module(model: Any) -> str:
    """sha256 of a torch module's state dict (names, shapes, dtypes, bytes)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


def dense_key(fingerprint: str, cmap: CapabilityMap, seed: int) -> str:
    """The one key of a model's dense scores on a map and evaluation seed: the pool's memory
    cache and the MLflow dense run (tag ``calray.dense_key``) both use it."""
    return f"{fingerprint}/{cmap.digest()}/seed{seed}"


class DenseCache:
    """``DenseCache(root).scores(fingerprint, cmap, compute)``: cached scores of every task of
    ``cmap``; ``compute(missing_map)`` runs only the tasks not cached yet."""

    def __init__(
        self, root: str | Path | None = None, *, data: LocalData | None = None, settings: dict[str, Any] | None = None
    ) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.context = {"data": data.model_dump(mode="json") if data else None, "settings": settings or {}, "v": CACHE_VERSION}

    def _path(self, fingerprint: str, spec: TaskSpec) -> Path:
        body = json.dumps({**spec.key(), "context": self.context}, sort_keys=True)
        return self.root / fingerprint / f"{spec.task}-{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"

    def get(self, fingerprint: str, spec: TaskSpec) -> TaskScore | None:
        path = self._path(fingerprint, spec)
        if not path.is_file():
            return None
        return TaskScore.from_dict(json.loads(path.read_text()))

    def put(self, fingerprint: str, spec: TaskSpec, score: TaskScore) -> None:
        path = self._path(fingerprint, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(score.to_dict(), f)
        os.replace(tmp, path)

    def scores(self, fingerprint: str, cmap: CapabilityMap, compute: Callable[[dict[str, TaskScore]], Any]) -> Any:
        """Run ``compute(cached)`` (e.g. ``evaluate_capabilities(..., cached=cached)``), giving it
        the cached task scores, then store what it computed."""
        specs = {s.task: s for specs in cmap.dimensions.values() for s in specs}
        cached = {name: score for name, spec in specs.items() if (score := self.get(fingerprint, spec)) is not None}
        result = compute(cached)
        for name, spec in specs.items():
            if name not in cached:
                self.put(fingerprint, spec, result.tasks[name])
        return result
